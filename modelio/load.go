package modelio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/bltpipe/bltpipe/modelio/safetensors"
)

// File names inside a model directory.
const (
	ConfigFile  = "config.json"       // Hugging Face layout: {"args": {…}} or flat
	ParamsFile  = "params.json"       // Meta layout: {"entropy_model": {…}, …}
	WeightsFile = "model.safetensors" // the only weight format read
)

// LoadConfig reads a model directory's hyper-parameters. config.json wins
// if present: its keys sit under "args" or at the top level. Otherwise
// params.json must hold an "entropy_model" object. Unknown keys are ignored
// and JSON null means unset. Defaults are applied, then the result is
// validated; errors name the file.
func LoadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return parseConfig(path, b, "args", false)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	path = filepath.Join(dir, ParamsFile)
	b, err = os.ReadFile(path)
	if err == nil {
		return parseConfig(path, b, "entropy_model", true)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return Config{}, fmt.Errorf("load model: %w", err)
	}
	return Config{}, fmt.Errorf("load model %s: no %s or %s; is this a BLT entropy model directory?", dir, ConfigFile, ParamsFile)
}

// parseConfig decodes the hyper-parameters in the object under key, or at
// the top level when key is absent and not required.
func parseConfig(path string, b []byte, key string, required bool) (Config, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return Config{}, fmt.Errorf("read %s: invalid JSON: %w", path, err)
	}
	if top == nil {
		return Config{}, fmt.Errorf("read %s: invalid JSON: not an object", path)
	}
	obj := json.RawMessage(b)
	where := "at the top level"
	if sub, ok := top[key]; ok && !bytes.Equal(bytes.TrimSpace(sub), []byte("null")) {
		obj, where = sub, fmt.Sprintf("under %q", key)
	} else if required {
		return Config{}, fmt.Errorf("read %s: no %q object; Meta's params.json keeps the entropy model's hyper-parameters there", path, key)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(obj, &keys); err != nil || keys == nil {
		return Config{}, fmt.Errorf("read %s: hyper-parameters %s are not a JSON object", path, where)
	}
	if _, ok := keys["dim"]; !ok {
		return Config{}, fmt.Errorf("read %s: no \"dim\" %s; not a BLT entropy model config", path, where)
	}
	var c Config
	if err := json.Unmarshal(obj, &c); err != nil {
		return Config{}, fmt.Errorf("read %s: %w", path, err)
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("read %s: invalid config: %w", path, err)
	}
	return c, nil
}

// LoadModel reads a model directory: its config (see LoadConfig) and
// model.safetensors. Every tensor Weights.Tensors lists must be present with
// exactly that shape; all must share one dtype, F32, BF16 or F16, which is
// converted to float32 and recorded in DType. NaN and ±Inf are rejected.
// Tensors the model does not use are ignored and listed in ExtraTensors.
// SHA256 is the file's digest. Every error names the file and, where one is
// to blame, the tensor.
func LoadModel(dir string) (*Weights, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, WeightsFile)
	// The file is mapped once: the tensors are decoded from the mapping and
	// the identity hash is taken over the same bytes (one read from disk).
	raw, release, err := mapFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingWeightsError(dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer release()
	f, err := safetensors.OpenReader(path, bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	defer f.Close()

	w := &Weights{Config: cfg, Layers: make([]LayerWeights, cfg.NLayers)}
	refs := w.Tensors()
	if err := checkTensors(path, f, refs, w); err != nil {
		return nil, err
	}
	for _, r := range refs {
		data, err := f.Float32(r.Name)
		if err != nil {
			return nil, err
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("read %s: tensor %q: value %d (%s) is %v; the weights are corrupt", path, r.Name, i, index(r.Shape, i), v)
			}
		}
		*r.Data = data
	}
	sum := sha256.Sum256(raw)
	w.SHA256 = hex.EncodeToString(sum[:])
	return w, nil
}

// checkTensors verifies names, shapes and dtypes before any data is read,
// sets w.DType and w.ExtraTensors.
func checkTensors(path string, f *safetensors.File, refs []TensorRef, w *Weights) error {
	want := make(map[string]bool, len(refs))
	var missing []string
	var first string // the tensor that set w.DType
	for _, r := range refs {
		want[r.Name] = true
		dtype, shape, ok := f.Info(r.Name)
		if !ok {
			missing = append(missing, r.Name)
			continue
		}
		if !slices.Equal(shape, r.Shape) {
			return fmt.Errorf("read %s: tensor %q has shape %v, want %v for %s", path, r.Name, shape, r.Shape, configSummary(w.Config))
		}
		switch dtype {
		case "F32", "BF16", "F16":
		default:
			return fmt.Errorf("read %s: tensor %q has dtype %s; model weights must be F32, BF16 or F16", path, r.Name, dtype)
		}
		if w.DType == "" {
			w.DType, first = dtype, r.Name
		} else if dtype != w.DType {
			return fmt.Errorf("read %s: tensor %q has dtype %s but %q has %s; mixed dtypes are not supported", path, r.Name, dtype, first, w.DType)
		}
	}
	if len(missing) > 0 {
		more := ""
		if len(missing) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(missing)-1)
		}
		return fmt.Errorf("read %s: tensor %q missing%s; the file has %d tensors, a model with %s needs %d", path, missing[0], more, len(f.Names()), configSummary(w.Config), len(refs))
	}
	for _, name := range f.Names() {
		if !want[name] {
			w.ExtraTensors = append(w.ExtraTensors, name)
		}
	}
	slices.Sort(w.ExtraTensors)
	return nil
}

// missingWeightsError explains a missing model.safetensors, pointing at
// PyTorch checkpoints that bltpipe does not read.
func missingWeightsError(dir, path string) error {
	for _, name := range []string{"consolidated.pth", "pytorch_model.bin", "consolidated.00.pth"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("read %s: no such file; %s holds %s, but bltpipe reads safetensors only: convert it to %s (torch.load, then safetensors.torch.save_file)", path, dir, name, WeightsFile)
		}
	}
	return fmt.Errorf("read %s: no such file; bltpipe reads the weights from %s only", path, WeightsFile)
}

// index renders flat index i of a row-major tensor as [r c] or [i].
func index(shape []int, i int) string {
	if len(shape) == 2 && shape[1] > 0 {
		return fmt.Sprintf("[%d %d]", i/shape[1], i%shape[1])
	}
	return fmt.Sprintf("[%d]", i)
}

func configSummary(c Config) string {
	return fmt.Sprintf("dim %d, n_layers %d, n_heads %d, n_kv_heads %d, vocab %d, hidden %d", c.Dim, c.NLayers, c.NHeads, c.KVHeads(), c.VocabSize, c.HiddenDim())
}
