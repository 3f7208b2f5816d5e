package schemas

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/SCHEMA.md documents every column of the sidecar's nodes table and
// every node and edge kind the DDL allows.
func TestSidecarDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "SCHEMA.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(SidecarDDL, "CREATE TABLE nodes (")
	j := strings.Index(SidecarDDL[i:], ");")
	cols := regexp.MustCompile(`(?m)^\s+([a-z_0-9]+)\s+(INTEGER|TEXT|REAL)`).FindAllStringSubmatch(SidecarDDL[i:i+j], -1)
	if len(cols) < 20 {
		t.Fatalf("parsed %d nodes columns from the DDL", len(cols))
	}
	for _, c := range cols {
		if !strings.Contains(doc, c[1]) {
			t.Errorf("docs/SCHEMA.md does not mention nodes column %s", c[1])
		}
	}
	for _, k := range []string{NodeTrunk, NodeBranch, NodeSegment, NodePatch, EdgeContains, EdgeNext, EdgeSameSource, EdgeMemberOf} {
		if !strings.Contains(SidecarDDL, "'"+k+"'") || !strings.Contains(doc, "'"+k+"'") {
			t.Errorf("kind %q missing from the DDL's checks or from docs/SCHEMA.md", k)
		}
	}
}
