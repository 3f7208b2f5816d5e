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
	m := regexp.MustCompile(`CREATE VIEW nodes \(([^)]*)\) AS`).FindStringSubmatch(SidecarDDL)
	if m == nil {
		t.Fatal("no nodes view in the DDL")
	}
	cols := strings.Split(m[1], ",")
	if len(cols) < 20 {
		t.Fatalf("parsed %d nodes columns from the DDL", len(cols))
	}
	for _, c := range cols {
		if c = strings.TrimSpace(c); !strings.Contains(doc, c) {
			t.Errorf("docs/SCHEMA.md does not mention nodes column %s", c)
		}
	}
	for _, table := range []string{"node_rows", "patch_leaves", "edge_rows"} {
		if !strings.Contains(SidecarDDL, "CREATE TABLE "+table+" (") || !strings.Contains(doc, table) {
			t.Errorf("table %s missing from the DDL or from docs/SCHEMA.md", table)
		}
	}
	for _, k := range []string{NodeTrunk, NodeBranch, NodeSegment, NodePatch, EdgeContains, EdgeNext, EdgeSameSource, EdgeMemberOf} {
		if !strings.Contains(SidecarDDL, "'"+k+"'") || !strings.Contains(doc, "'"+k+"'") {
			t.Errorf("kind %q missing from the DDL's checks or from docs/SCHEMA.md", k)
		}
	}
}
