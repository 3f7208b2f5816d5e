package schemas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docs/SCHEMA.md documents every column of rejects/ and its stages.
func TestSchemaDocMentionsRejects(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "SCHEMA.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, f := range Rejects().Fields() {
		if !strings.Contains(doc, "`"+f.Name+"`") {
			t.Errorf("docs/SCHEMA.md does not mention rejects column `%s`", f.Name)
		}
	}
	for _, s := range append([]string{RejectsDir + "/"}, RejectStages...) {
		if !strings.Contains(doc, "`"+s+"`") && !strings.Contains(doc, s) {
			t.Errorf("docs/SCHEMA.md does not mention %s", s)
		}
	}
}
