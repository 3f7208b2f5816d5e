package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// bench model runs on the CPU at a toy size, with and without pooling
// patch embeddings, and reports what it measured.
func TestBenchModel(t *testing.T) {
	for _, pool := range []string{"0", "4"} {
		code, out, errOut := runCLI(t, "bench", "model", "--size", "64x1", "--seconds", "0.05", "--seq-len", "100",
			"--batch-tokens", "256", "--chunk-len", "32", "--pool", pool, "--json")
		if code != 0 {
			t.Fatalf("--pool %s: exit %d: %s", pool, code, errOut)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("--pool %s: %v: %q", pool, err, out)
		}
		if r.Tokens <= 0 || r.TokensPerSec <= 0 || r.Backend != "go" || r.DType != "f32" {
			t.Errorf("--pool %s: %+v", pool, r)
		}
		if (pool == "4") != (r.Pool == 4) {
			t.Errorf("--pool %s reported as %d", pool, r.Pool)
		}
	}
	if code, _, errOut := runCLI(t, "bench", "model", "--size", "64x1", "--pool", "-1"); code != 2 || !strings.Contains(errOut, "--pool") {
		t.Errorf("--pool -1: exit %d, %q; want a usage error naming --pool", code, errOut)
	}
}
