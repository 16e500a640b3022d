package localkube

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedServingCert(t *testing.T) {
	now := time.Now()
	certPEM, keyPEM, err := selfSignedServingCert(now)
	if err != nil {
		t.Fatal(err)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key is not a PKCS #8 PEM block: %q", keyPEM)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("certificate is not PEM: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now}); err != nil {
			t.Errorf("certificate does not verify for %s: %v", host, err)
		}
	}
}

func TestNewCredentialsTokenFile(t *testing.T) {
	creds, err := newCredentials(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if creds.adminToken == creds.restrictedToken {
		t.Fatal("admin and restricted tokens are equal")
	}
	data, err := os.ReadFile(creds.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	want := creds.adminToken + `,admin,localkube-admin,"system:masters"` + "\n" +
		creds.restrictedToken + ",statefulset-exporter,localkube-statefulset-exporter\n"
	if string(data) != want {
		t.Errorf("token file = %q, want %q", data, want)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, "<empty log>"},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"a\nb\n\n\n", 1, "b"},
	} {
		if got := lastLines([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTailFileOfLargeLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 100000 {
		b.WriteString("line ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\n")
	}
	b.WriteString("the end\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got := tailFile(path, 2)
	if !strings.HasSuffix(got, "\nthe end") || strings.Count(got, "\n") != 1 {
		t.Errorf("tailFile = %q", got)
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 2); !strings.Contains(got, "cannot read log") {
		t.Errorf("tailFile of a missing file = %q", got)
	}
}

func TestCommandLine(t *testing.T) {
	p := &process{path: "/usr/bin/etcd", args: []string{"--data-dir=/tmp/a b", "--name=it's", "--x="}}
	want := `/usr/bin/etcd '--data-dir=/tmp/a b' '--name=it'\''s' --x=`
	if got := p.commandLine(); got != want {
		t.Errorf("commandLine() = %s, want %s", got, want)
	}
}

func TestVersionLDFlags(t *testing.T) {
	want := "-X k8s.io/component-base/version.gitVersion=v1.37.2" +
		" -X k8s.io/component-base/version.gitMajor=1" +
		" -X k8s.io/component-base/version.gitMinor=37"
	if got := versionLDFlags("v1.37.2"); got != want {
		t.Errorf("versionLDFlags = %q, want %q", got, want)
	}
}

func TestKubernetesVersion(t *testing.T) {
	version, err := KubernetesVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "v1.") {
		t.Errorf("KubernetesVersion() = %q, want a v1.Y.Z release", version)
	}
}

func TestUpToDate(t *testing.T) {
	dir := t.TempDir()
	input, bin := filepath.Join(dir, "go.mod"), filepath.Join(dir, "bin")
	for _, p := range []string{input, bin} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(input, old, old); err != nil {
		t.Fatal(err)
	}
	if !upToDate(bin, []string{input}) {
		t.Error("binary newer than its inputs is not up to date")
	}
	if err := os.Chtimes(bin, old.Add(-time.Hour), old.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if upToDate(bin, []string{input}) {
		t.Error("binary older than its inputs is up to date")
	}
	if upToDate(filepath.Join(dir, "missing"), []string{input}) {
		t.Error("missing binary is up to date")
	}
}
