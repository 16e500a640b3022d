package collector

import (
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// floors lists the package's files from the top down, as doc.go draws them. A file may
// use what is declared on its own floor or below; a use of something declared on a
// floor above runs back up.
var floors = [][]string{
	{"collector.go", "collect.go", "handler.go"},
	{"memo.go", "expo.go", "families.go", "families_statefulset.go", "families_pods.go", "families_storage.go",
		"families_claims.go", "families_risks.go", "families_lease.go", "families_self.go", "sample.go"},
	{"informers.go", "claims.go", "listpages.go", "resilient.go", "transform.go", "apierrors.go"},
	{"trackers.go", "restarts.go", "binddurations.go", "leases.go", "self.go", "dirty.go"},
	{"config.go", "caches.go", "nsinformers.go", "helpers.go"},
}

// maxUpwardUses is how many uses may run back up.
const maxUpwardUses = 0

func TestLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the package")
	}
	pkgs, err := packages.Load(&packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
	}, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
		t.Fatalf("loading the package: %v", pkgs[0].Errors)
	}
	pkg := pkgs[0]
	floorOf := map[string]int{}
	for i, files := range floors {
		for _, f := range files {
			floorOf[f] = i
		}
	}
	for _, f := range pkg.GoFiles {
		if _, ok := floorOf[filepath.Base(f)]; !ok && filepath.Base(f) != "doc.go" {
			t.Errorf("%s is on no floor: add it to floors (and to doc.go's picture)", filepath.Base(f))
		}
	}
	fileOf := func(pos token.Pos) string { return filepath.Base(pkg.Fset.Position(pos).Filename) }
	var upward []string
	for id, obj := range pkg.TypesInfo.Uses {
		if obj == nil || obj.Pkg() != pkg.Types || !declaredInPackage(obj, pkg.Types) {
			continue
		}
		user, decl := fileOf(id.Pos()), fileOf(obj.Pos())
		if floorOf[user] > floorOf[decl] {
			upward = append(upward, pkg.Fset.Position(id.Pos()).String()+": "+user+" uses "+obj.Name()+" of "+decl)
		}
	}
	slices.Sort(upward)
	if len(upward) > maxUpwardUses {
		t.Errorf("%d uses run back up (at most %d):\n%s", len(upward), maxUpwardUses, strings.Join(upward, "\n"))
	}
}

// declaredInPackage tells whether obj is a package-level declaration, or a field or
// method of a type declared in pkg (not a local variable or parameter).
func declaredInPackage(obj types.Object, pkg *types.Package) bool {
	switch o := obj.(type) {
	case *types.Var:
		return o.IsField() || o.Parent() == pkg.Scope()
	case *types.Func:
		return true
	default:
		return obj.Parent() == pkg.Scope()
	}
}

// TestDeriveImportsNoClientOrPrometheus keeps the derivations pure: they read objects
// and a view, never an informer or an API client, and know nothing of metrics.
func TestDeriveImportsNoClientOrPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("lists the package's dependencies")
	}
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps}, "./derive")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(p *packages.Package)
	walk = func(p *packages.Package) {
		if seen[p.PkgPath] {
			return
		}
		seen[p.PkgPath] = true
		for _, forbidden := range []string{"k8s.io/client-go/", "github.com/prometheus/"} {
			if strings.HasPrefix(p.PkgPath, forbidden) {
				t.Errorf("derive depends on %s", p.PkgPath)
			}
		}
		for _, imp := range p.Imports {
			walk(imp)
		}
	}
	for _, p := range pkgs {
		walk(p)
	}
	if len(seen) < 10 {
		t.Fatalf("only %d packages in derive's dependencies: the walk is broken", len(seen))
	}
}
