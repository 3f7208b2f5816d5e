package modelio

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/safetensors"
)

// tinyConfig is a valid model small enough to write in a test: GQA (2 query
// heads share 1 kv head), head dim 8, hidden 48.
func tinyConfig() Config {
	return Config{
		Dim: 16, NLayers: 2, NHeads: 2, NKVHeads: 1, VocabSize: 260,
		MultipleOf: 16, NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 4, MaxSeqLen: 64,
	}
}

// bltEntropyConfig is facebook/blt-entropy as its config states it.
func bltEntropyConfig() Config {
	return Config{
		Dim: 768, NLayers: 14, NHeads: 12, VocabSize: 260, FFNDimMultiplier: 1.0,
		MultipleOf: 256, NormEps: 1e-5, RopeTheta: 10000, SlidingWindow: 512, MaxSeqLen: 8192,
	}
}

func writeModelFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBLTEntropyFacts(t *testing.T) {
	c := bltEntropyConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.NumParams(); got != 99_512_064 {
		t.Errorf("NumParams() = %d, want 99,512,064", got)
	}
	if got := c.HiddenDim(); got != 2048 {
		t.Errorf("HiddenDim() = %d, want 2048", got)
	}
	if got := c.HeadDimension(); got != 64 {
		t.Errorf("HeadDimension() = %d, want 64", got)
	}
	w := &Weights{Config: c, Layers: make([]LayerWeights, c.NLayers)}
	n := 0
	for _, r := range w.Tensors() {
		size := 1
		for _, d := range r.Shape {
			size *= d
		}
		n += size
	}
	if n != c.NumParams() || len(w.Tensors()) != 3+9*14 {
		t.Errorf("Tensors() lists %d tensors with %d parameters, want %d and %d", len(w.Tensors()), n, 3+9*14, c.NumParams())
	}
}

func TestLoadConfig(t *testing.T) {
	real := bltEntropyConfig()
	tests := []struct {
		name  string
		files map[string]string
		want  Config
	}{
		{"hf args", map[string]string{ConfigFile: `{"args": {"dim": 768, "n_layers": 14, "n_heads": 12, "vocab_size": 260,
			"ffn_dim_multiplier": 1.0, "multiple_of": 256, "norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 512,
			"max_seqlen": 8192, "attn_impl": "sdpa", "attn_bias_type": "local_block_causal", "init_std_factor": "current_depth",
			"n_kv_heads": null, "head_dim": null, "weight_tying": false, "seed": 42}}`}, real},
		{"hf flat", map[string]string{ConfigFile: `{"dim": 768, "n_layers": 14, "n_heads": 12, "ffn_dim_multiplier": 1.0,
			"sliding_window": 512, "max_seqlen": 8192, "architectures": ["X"]}`}, real},
		{"meta params", map[string]string{ParamsFile: `{"name": "blt", "entropy_model": {"dim": 768, "n_layers": 14, "n_heads": 12,
			"n_kv_heads": null, "head_dim": null, "ffn_dim_multiplier": 1.0, "multiple_of": 256, "norm_eps": 1e-5,
			"rope_theta": 10000.0, "sliding_window": 512, "max_seqlen": 8192, "vocab_size": 260, "attn_impl": "xformers",
			"init_base_std": null}, "patch_size": 4.5, "dim": 4096}`}, real},
		{"null multiplier is unset", map[string]string{ConfigFile: `{"args": {"dim": 768, "n_layers": 14, "n_heads": 12,
			"ffn_dim_multiplier": null, "sliding_window": 512, "max_seqlen": 8192}}`},
			func() Config { c := real; c.FFNDimMultiplier = 0; return c }()},
		{"config.json wins", map[string]string{
			ConfigFile: `{"args": {"dim": 16, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "multiple_of": 16, "sliding_window": 4, "max_seqlen": 64}}`,
			ParamsFile: `{"entropy_model": {"dim": 768, "n_layers": 14, "n_heads": 12}}`}, tinyConfig()},
		{"patching kept", map[string]string{ConfigFile: `{"args": {"dim": 16, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1,
			"multiple_of": 16, "sliding_window": 4, "max_seqlen": 64, "patching": {"threshold": 1.335, "target_patch_length": 4.5}}}`},
			func() Config { c := tinyConfig(); c.Patching = &PatchingDefaults{1.335, 4.5}; return c }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeModelFile(t, dir, name, content)
			}
			got, err := LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // ConfigFile unless it starts with "params:"
		content string
		want    string
	}{
		{"invalid json", ConfigFile, `{"args": {`, "invalid JSON"},
		{"not an object", ConfigFile, `[768]`, "invalid JSON"},
		{"no dim", ConfigFile, `{"model_type": "blt", "hidden_size": 768}`, `no "dim" at the top level`},
		{"args not object", ConfigFile, `{"args": 3}`, `hyper-parameters under "args" are not a JSON object`},
		{"dim 0", ConfigFile, `{"args": {"dim": 0, "n_layers": 1, "n_heads": 1}}`, "invalid config: dim must be > 0, got 0"},
		{"heads do not divide dim", ConfigFile, `{"args": {"dim": 770, "n_layers": 1, "n_heads": 12}}`, "dim (770) must be a multiple of n_heads (12)"},
		{"vocab too small", ConfigFile, `{"args": {"dim": 16, "n_layers": 1, "n_heads": 2, "vocab_size": 256}}`, "vocab_size must be >= 260"},
		{"kv heads", ConfigFile, `{"args": {"dim": 16, "n_layers": 1, "n_heads": 2, "n_kv_heads": 3}}`, "n_heads (2) must be a multiple of n_kv_heads (3)"},
		{"negative head_dim", ConfigFile, `{"args": {"dim": 16, "n_layers": 1, "n_heads": 2, "head_dim": -8}}`, "head_dim must be >= 0"},
		{"wrong type", ConfigFile, `{"args": {"dim": "768", "n_layers": 1, "n_heads": 2}}`, "cannot unmarshal string"},
		{"params without entropy_model", ParamsFile, `{"dim": 768, "n_layers": 14, "n_heads": 12}`, `no "entropy_model" object`},
		{"params bad entropy_model", ParamsFile, `{"entropy_model": {"dim": 768, "n_layers": 14, "n_heads": 12, "norm_eps": 2}}`, "norm_eps must be in (0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeModelFile(t, dir, tt.file, tt.content)
			_, err := LoadConfig(dir)
			path := filepath.Join(dir, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "read "+path+": ") {
				t.Errorf("LoadConfig error = %v, want it to name %s and contain %q", err, path, tt.want)
			}
		})
	}
	t.Run("empty dir", func(t *testing.T) {
		dir := t.TempDir()
		_, err := LoadConfig(dir)
		if err == nil || !strings.Contains(err.Error(), "load model "+dir+": no config.json or params.json") {
			t.Errorf("LoadConfig(empty) error = %v", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := LoadConfig(dir)
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no such file") {
			t.Errorf("LoadConfig(missing) error = %v", err)
		}
	})
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, dtype := range []string{"F32", "BF16", "F16"} {
		t.Run(dtype, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Patching = &PatchingDefaults{Threshold: 1.3, TargetPatchLength: 4}
			want := RandomWeights(cfg, 7)
			dir := filepath.Join(t.TempDir(), "model")
			if err := SaveModel(dir, want, dtype); err != nil {
				t.Fatal(err)
			}
			got, err := LoadModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Config, cfg) {
				t.Errorf("Config = %+v, want %+v", got.Config, cfg)
			}
			if got.DType != dtype {
				t.Errorf("DType = %q, want %q", got.DType, dtype)
			}
			b, err := os.ReadFile(filepath.Join(dir, WeightsFile))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); got.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s, want %x", got.SHA256, sum)
			}
			if got.ExtraTensors != nil {
				t.Errorf("ExtraTensors = %v, want none", got.ExtraTensors)
			}
			// Round-to-nearest errs by half an ulp: relative 2^-8 for bf16
			// (8 significant bits), 2^-11 for f16, whose subnormals below
			// 2^-14 have a fixed ulp of 2^-24.
			tol := map[string]float64{"F32": 0, "BF16": 0x1p-8, "F16": 0x1p-11}[dtype]
			abs := map[string]float64{"F32": 0, "BF16": 0, "F16": 0x1p-25}[dtype]
			gotRefs, wantRefs := got.Tensors(), want.Tensors()
			for i, r := range wantRefs {
				g, w := *gotRefs[i].Data, *r.Data
				if len(g) != len(w) {
					t.Fatalf("%s: %d values, want %d", r.Name, len(g), len(w))
				}
				for j := range w {
					if d := math.Abs(float64(g[j] - w[j])); d > max(tol*math.Abs(float64(w[j])), abs) {
						t.Fatalf("%s[%d] = %g, want %g within %g relative", r.Name, j, g[j], w[j], tol)
					}
				}
			}
			if err := got.Validate(); err != nil {
				t.Errorf("loaded weights do not validate: %v", err)
			}
		})
	}
}

// storedTensor is one tensor of a safetensors file, as raw bytes, for tests that
// rebuild a file with a defect.
type storedTensor struct {
	name    string
	dtype   string
	shape   []int
	raw     []byte
	offsets []int64 // nil: computed
}

// readStored reads every tensor of a safetensors file as raw bytes, in file order.
func readStored(t *testing.T, path string) []storedTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	data := b[8+n:]
	var out []storedTensor
	for name, msg := range header {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType       string  `json:"dtype"`
			Shape       []int   `json:"shape"`
			DataOffsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, storedTensor{name, e.DType, e.Shape, slices.Clone(data[e.DataOffsets[0]:e.DataOffsets[1]]), e.DataOffsets})
	}
	slices.SortFunc(out, func(a, b storedTensor) int { return int(a.offsets[0] - b.offsets[0]) })
	for i := range out {
		out[i].offsets = nil
	}
	return out
}

// writeStored writes tensors as a safetensors file, without validation.
func writeStored(t *testing.T, path string, tensors []storedTensor) {
	t.Helper()
	header := map[string]any{}
	var data []byte
	for _, s := range tensors {
		offs := s.offsets
		if offs == nil {
			offs = []int64{int64(len(data)), int64(len(data) + len(s.raw))}
		}
		header[s.name] = map[string]any{"dtype": s.dtype, "shape": s.shape, "data_offsets": offs}
		data = append(data, s.raw...)
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	b = append(append(b, h...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func findStored(tensors []storedTensor, name string) *storedTensor {
	for i := range tensors {
		if tensors[i].name == name {
			return &tensors[i]
		}
	}
	panic("no tensor " + name)
}

func TestLoadModelErrors(t *testing.T) {
	wq1 := LayerTensorNames(1)[0]
	ffnNorm1 := LayerTensorNames(1)[8]
	tests := []struct {
		name   string
		tensor string // the tensor the error must name, "" for none
		edit   func(t *testing.T, dir, path string)
		want   string
	}{
		{"missing config", "", func(t *testing.T, dir, _ string) {
			os.Remove(filepath.Join(dir, ConfigFile))
		}, "no config.json or params.json"},
		{"impossible config", "", func(t *testing.T, dir, _ string) {
			writeModelFile(t, dir, ConfigFile, `{"args": {"dim": 16, "n_layers": 2, "n_heads": 3}}`)
		}, "dim (16) must be a multiple of n_heads (3)"},
		{"missing weights", "", func(t *testing.T, _, path string) {
			os.Remove(path)
		}, "bltpipe reads the weights from model.safetensors only"},
		{"pytorch checkpoint only", "", func(t *testing.T, dir, path string) {
			os.Remove(path)
			writeModelFile(t, dir, "consolidated.pth", "not really")
		}, "holds consolidated.pth, but bltpipe reads safetensors only"},
		{"missing tensor", wq1, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			ts = slices.DeleteFunc(ts, func(s storedTensor) bool { return s.name == wq1 })
			writeStored(t, path, ts)
		}, "missing; the file has 20 tensors, a model with dim 16"},
		{"several missing tensors", NameTokEmbeddings, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			writeStored(t, path, ts[1:4])
		}, "missing (and 17 more); the file has 3 tensors"},
		{"wrong shape", NameTokEmbeddings, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			findStored(ts, NameTokEmbeddings).shape = []int{16, 260}
			writeStored(t, path, ts)
		}, "has shape [16 260], want [260 16]"},
		{"norm storedTensor as matrix", NameNorm, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			findStored(ts, NameNorm).shape = []int{1, 16}
			writeStored(t, path, ts)
		}, "has shape [1 16], want [16]"},
		{"unsupported dtype", NameNorm, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			s := findStored(ts, NameNorm)
			s.dtype, s.raw = "I64", make([]byte, 8*16)
			writeStored(t, path, ts)
		}, "has dtype I64; model weights must be F32, BF16 or F16"},
		{"mixed dtypes", wq1, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			s := findStored(ts, wq1)
			var raw []byte
			for i := 0; i < len(s.raw); i += 4 {
				f := math.Float32frombits(binary.LittleEndian.Uint32(s.raw[i:]))
				raw = binary.LittleEndian.AppendUint16(raw, safetensors.Float32ToBF16(f))
			}
			s.dtype, s.raw = "BF16", raw
			writeStored(t, path, ts)
		}, `has dtype BF16 but "tok_embeddings.weight" has F32; mixed dtypes are not supported`},
		{"NaN weight", ffnNorm1, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			binary.LittleEndian.PutUint32(findStored(ts, ffnNorm1).raw[4*5:], math.Float32bits(float32(math.NaN())))
			writeStored(t, path, ts)
		}, "value 5 ([5]) is NaN"},
		{"Inf weight", NameOutput, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			binary.LittleEndian.PutUint32(findStored(ts, NameOutput).raw[4*(16*3+2):], math.Float32bits(float32(math.Inf(-1))))
			writeStored(t, path, ts)
		}, "value 50 ([3 2]) is -Inf"},
		{"truncated in the data", NameOutput, func(t *testing.T, _, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)-100], 0o644)
		}, "past end of file"},
		{"header offsets past the end", wq1, func(t *testing.T, _, path string) {
			ts := readStored(t, path)
			s := findStored(ts, wq1)
			s.offsets = []int64{1 << 40, 1<<40 + int64(len(s.raw))}
			writeStored(t, path, ts)
		}, "data_offsets [1099511627776 1099511628800] past end of file"},
		{"absurd header length", "", func(t *testing.T, _, path string) {
			b, _ := os.ReadFile(path)
			binary.LittleEndian.PutUint64(b, 1<<62)
			os.WriteFile(path, b, 0o644)
		}, "header size 4611686018427387904 is absurd"},
		{"invalid header JSON", "", func(t *testing.T, _, path string) {
			b, _ := os.ReadFile(path)
			b[8] = '!'
			os.WriteFile(path, b, 0o644)
		}, "invalid header JSON"},
		{"empty file", "", func(t *testing.T, _, path string) {
			os.WriteFile(path, nil, 0o644)
		}, "too short for a safetensors header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := SaveModel(dir, RandomWeights(tinyConfig(), 1), "F32"); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, WeightsFile)
			tt.edit(t, dir, path)
			w, err := LoadModel(dir)
			if err == nil {
				t.Fatalf("LoadModel succeeded (%d layers), want error containing %q", len(w.Layers), tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, dir) {
				t.Errorf("LoadModel error = %q, want it to name %s and contain %q", msg, dir, tt.want)
			}
			if tt.tensor != "" && !strings.Contains(msg, "read "+path+`: tensor "`+tt.tensor+`"`) {
				t.Errorf("LoadModel error = %q, want it to name %s and tensor %q", msg, path, tt.tensor)
			}
		})
	}
}

func TestLoadModelIgnoresExtraTensors(t *testing.T) {
	dir := t.TempDir()
	want := RandomWeights(tinyConfig(), 3)
	if err := SaveModel(dir, want, "F32"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, WeightsFile)
	ts := readStored(t, path)
	ts = append(ts, storedTensor{name: "rope.freqs", dtype: "F32", shape: []int{4}, raw: make([]byte, 16)},
		storedTensor{name: "layers.0.attention.bias", dtype: "I64", shape: []int{1}, raw: make([]byte, 8)})
	writeStored(t, path, ts)
	got, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ExtraTensors, []string{"layers.0.attention.bias", "rope.freqs"}) {
		t.Errorf("ExtraTensors = %v", got.ExtraTensors)
	}
	if !slices.Equal(got.Output, want.Output) {
		t.Error("output weights changed")
	}
}

func TestLoadModelMetaLayout(t *testing.T) {
	// Meta's layout: params.json with "entropy_model", weights already
	// converted to safetensors.
	dir := t.TempDir()
	want := RandomWeights(tinyConfig(), 5)
	if err := SaveModel(dir, want, "BF16"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ConfigFile))
	args, _ := json.Marshal(tinyConfig())
	writeModelFile(t, dir, ParamsFile, `{"entropy_model": `+string(args)+`, "encoder": {"dim": 1024}}`)
	got, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config, tinyConfig()) || got.DType != "BF16" {
		t.Errorf("got %+v %s", got.Config, got.DType)
	}
}
