package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// A bad model stops `bltpipe run` before anything exists under --output:
// exit status 2, one line naming the file (and the tensor where one is to
// blame), no panic.
func TestRunRejectsBadModelsBeforeOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("some text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good")
	if err := testcorpus.WriteSmallModel(good, 7); err != nil {
		t.Fatal(err)
	}
	weights, err := os.ReadFile(filepath.Join(good, modelio.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(good, modelio.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.LittleEndian.Uint64(weights[:8])
	header := map[string]json.RawMessage{}
	if err := json.Unmarshal(weights[8:8+hlen], &header); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range header {
		if n != "__metadata__" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var first struct {
		DType   string  `json:"dtype"`
		Offsets []int64 `json:"data_offsets"`
	}
	json.Unmarshal(header[names[0]], &first)

	editConfig := func(key string, v any) []byte {
		var c map[string]map[string]any
		json.Unmarshal(config, &c)
		c["args"][key] = v
		b, _ := json.Marshal(c)
		return b
	}
	cases := []struct {
		name    string
		weights func() []byte
		config  []byte
		want    []string // substrings of the one-line error
	}{
		{"truncated weights", func() []byte { return weights[:len(weights)/2] }, nil, []string{modelio.WeightsFile}},
		{"absurd header length", func() []byte {
			b := bytes.Clone(weights)
			binary.LittleEndian.PutUint64(b, 1<<62)
			return b
		}, nil, []string{modelio.WeightsFile, "header"}},
		{"header past the end", func() []byte {
			b := bytes.Clone(weights)
			binary.LittleEndian.PutUint64(b, uint64(len(b)))
			return b
		}, nil, []string{modelio.WeightsFile}},
		{"header not JSON", func() []byte {
			b := bytes.Clone(weights)
			b[8] = '!'
			return b
		}, nil, []string{modelio.WeightsFile}},
		{"NaN weight", func() []byte {
			b := bytes.Clone(weights)
			binary.LittleEndian.PutUint32(b[8+int(hlen)+int(first.Offsets[0]):], math.Float32bits(float32(math.NaN())))
			return b
		}, nil, []string{modelio.WeightsFile, names[0], "NaN"}},
		{"Inf weight", func() []byte {
			b := bytes.Clone(weights)
			binary.LittleEndian.PutUint32(b[8+int(hlen)+int(first.Offsets[0]):], math.Float32bits(float32(math.Inf(1))))
			return b
		}, nil, []string{modelio.WeightsFile, names[0], "Inf"}},
		{"wrong dtype", func() []byte {
			return bytes.Replace(weights, []byte(`"dtype":"F32"`), []byte(`"dtype":"I32"`), 1)
		}, nil, []string{modelio.WeightsFile, "I32"}},
		{"shapes do not match the config", nil, editConfig("dim", 64), []string{modelio.WeightsFile, "shape"}},
		{"impossible config", nil, editConfig("n_heads", 3), []string{modelio.ConfigFile}},
		{"config not JSON", nil, []byte("{dim: 32"), []string{modelio.ConfigFile}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, "bad", string(rune('a'+i)))
			os.MkdirAll(model, 0o755)
			w, c := weights, config
			if tc.weights != nil {
				w = tc.weights()
			}
			if tc.config != nil {
				c = tc.config
			}
			os.WriteFile(filepath.Join(model, modelio.WeightsFile), w, 0o644)
			os.WriteFile(filepath.Join(model, modelio.ConfigFile), c, 0o644)
			out := filepath.Join(dir, "out", string(rune('a'+i)))
			var stdout, stderr bytes.Buffer
			code := dispatch([]string{"run", "--input", in, "--output", out, "--model", model, "--progress", "0"}, &stdout, &stderr)
			msg := stderr.String()
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitUsage, msg)
			}
			if strings.Count(strings.TrimSpace(msg), "\n") != 0 || strings.Contains(msg, "panic") {
				t.Errorf("want one line without a panic, got %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("--output %s exists after a bad model (%v)", out, err)
			}
		})
	}
}
