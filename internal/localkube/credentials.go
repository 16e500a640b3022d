package localkube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	// AdminUser is the user name of AdminConfig's token. It is a member of
	// system:masters, so RBAC allows it everything.
	AdminUser = "admin"
	// RestrictedUser is the user name of RestrictedConfig's token. It only
	// has the implicit system:authenticated group, so it may do nothing
	// beyond discovery until the caller binds RBAC roles to it.
	RestrictedUser = "statefulset-exporter"

	// certValidity is generous so that a long-running demo cluster keeps
	// working; the key never leaves the cluster's temporary directory.
	certValidity = 365 * 24 * time.Hour
)

// credentials are the files kube-apiserver is started with. They are
// generated once per cluster and reused when the API server restarts.
type credentials struct {
	certPEM         []byte // self-signed serving certificate, also the CA clients trust
	adminToken      string
	restrictedToken string

	certFile  string
	keyFile   string
	saKeyFile string // signs service account tokens
	saPubFile string // verifies service account tokens
	tokenFile string // static token authentication file
	certDir   string // kube-apiserver's --cert-dir, unused but kept out of /var/run
}

// newCredentials generates serving and signing keys and tokens into dir.
func newCredentials(dir string) (*credentials, error) {
	c := &credentials{
		adminToken:      rand.Text(),
		restrictedToken: rand.Text(),
		certFile:        filepath.Join(dir, "serving.crt"),
		keyFile:         filepath.Join(dir, "serving.key"),
		saKeyFile:       filepath.Join(dir, "service-account.key"),
		saPubFile:       filepath.Join(dir, "service-account.pub"),
		tokenFile:       filepath.Join(dir, "tokens.csv"),
		certDir:         filepath.Join(dir, "cert-dir"),
	}

	certPEM, keyPEM, err := selfSignedServingCert(time.Now())
	if err != nil {
		return nil, err
	}
	c.certPEM = certPEM

	saKeyPEM, saPubPEM, err := newSigningKeyPEM()
	if err != nil {
		return nil, fmt.Errorf("generating service account key: %w", err)
	}

	// Users of a static token file: token,user,uid[,"group1,group2"].
	tokens := strings.Join([]string{
		fmt.Sprintf("%s,%s,%s,%q", c.adminToken, AdminUser, "localkube-"+AdminUser, "system:masters"),
		fmt.Sprintf("%s,%s,%s", c.restrictedToken, RestrictedUser, "localkube-"+RestrictedUser),
	}, "\n") + "\n"

	for _, f := range []struct {
		path string
		data []byte
	}{
		{c.certFile, certPEM},
		{c.keyFile, keyPEM},
		{c.saKeyFile, saKeyPEM},
		{c.saPubFile, saPubPEM},
		{c.tokenFile, []byte(tokens)},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, fmt.Errorf("writing credentials: %w", err)
		}
	}
	if err := os.Mkdir(c.certDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating certificate directory: %w", err)
	}
	return c, nil
}

// selfSignedServingCert returns a PEM certificate and key for 127.0.0.1, ::1
// and localhost. The certificate is its own CA so that clients can trust it
// directly.
func selfSignedServingCert(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generating serial number: %w", err)
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localkube kube-apiserver"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding serving key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// newSigningKeyPEM returns a PKCS #8 PEM encoded ECDSA P-256 key, which
// kube-apiserver accepts for signing service account tokens (ES256), and its
// PKIX PEM encoded public key, for verifying them.
func newSigningKeyPEM() (keyPEM, pubPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}
