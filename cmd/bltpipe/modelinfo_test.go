package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
)

// saveTinyModel writes a small random model (41,376 parameters) and returns
// its directory.
func saveTinyModel(t *testing.T, dtype string) (string, modelio.Config) {
	t.Helper()
	cfg := modelio.Config{
		Dim: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 260,
		MultipleOf: 32, NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 8, MaxSeqLen: 128,
		Patching: &modelio.PatchingDefaults{Threshold: 1.335},
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := modelio.SaveModel(dir, modelio.RandomWeights(cfg, 1), dtype); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

func TestModelInfoText(t *testing.T) {
	dir, cfg := saveTinyModel(t, "BF16")
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"model", "info", "--model", dir}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	text := out.String()
	params := thousands(cfg.NumParams())
	if params != "41,376" {
		t.Fatalf("test model too small to show separators: %s", params)
	}
	for _, kv := range [][2]string{
		{"model", dir}, {"parameters", params}, {"dtype", "BF16"}, {"dim", "32"}, {"n_layers", "2"},
		{"n_heads", "4"}, {"n_kv_heads", "2"}, {"head_dim", "8"}, {"hidden_dim", "96"},
		{"ffn_dim_multiplier", "unset"}, {"sliding_window", "8"},
		{"patching", "threshold 1.335 nats"},
	} {
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(kv[0]) + ` +` + regexp.QuoteMeta(kv[1]) + `$`)
		if !line.MatchString(text) {
			t.Errorf("output lacks line %q: %q:\n%s", kv[0], kv[1], text)
		}
	}
	if !regexp.MustCompile(`(?m)^sha256 +[0-9a-f]{64}$`).MatchString(text) {
		t.Errorf("output lacks a sha256 line:\n%s", text)
	}
}

func TestModelInfoJSON(t *testing.T) {
	dir, cfg := saveTinyModel(t, "F32")
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"model", "info", "--model", dir, "--json"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	w, err := modelio.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"parameters":`+itoa(cfg.NumParams())+`,`) {
		t.Errorf("parameters is not a plain integer: %s", out.String())
	}
	checks := map[string]any{
		"model": dir, "dtype": "F32", "sha256": w.SHA256,
		"head_dim": 8.0, "kv_heads": 2.0, "hidden_dim": 96.0,
	}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	c, _ := got["config"].(map[string]any)
	if c["dim"] != 32.0 || c["n_layers"] != 2.0 || c["vocab_size"] != 260.0 {
		t.Errorf("config = %v", c)
	}
	if extra, ok := got["extra_tensors"].([]any); !ok || len(extra) != 0 {
		t.Errorf("extra_tensors = %v, want []", got["extra_tensors"])
	}
}

func itoa(n int) string { return strings.ReplaceAll(thousands(n), ",", "") }

func TestModelInfoErrors(t *testing.T) {
	dir, _ := saveTinyModel(t, "F32")
	truncated := filepath.Join(t.TempDir(), "truncated")
	if err := os.MkdirAll(truncated, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{modelio.ConfigFile, modelio.WeightsFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == modelio.WeightsFile {
			b = b[:len(b)-7]
		}
		if err := os.WriteFile(filepath.Join(truncated, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no model flag", nil, "--model DIR is required"},
		{"missing dir", []string{"--model", filepath.Join(dir, "nope")}, "no such file"},
		{"empty dir", []string{"--model", t.TempDir()}, "no config.json or params.json"},
		{"truncated weights", []string{"--model", truncated}, "past end of file"},
		{"bad flag", []string{"--modle", dir}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := dispatch(append([]string{"model", "info"}, tt.args...), &out, &errOut)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(errOut.String(), tt.want) || !strings.HasPrefix(errOut.String(), "bltpipe model info: ") {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tt.want)
			}
		})
	}
}

func TestModelInfoHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"model", "info", "--help"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "Usage: bltpipe model info --model DIR") {
		t.Errorf("help = %q", out.String())
	}
	out.Reset()
	dispatch([]string{"--help"}, &out, &errOut)
	if !strings.Contains(out.String(), "model info") {
		t.Error("top-level help does not list model info")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 99512064: "99,512,064", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
