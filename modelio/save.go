package modelio

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bltpipe/bltpipe/modelio/safetensors"
)

// ModelType is the "model_type" SaveModel writes into config.json.
const ModelType = "blt_entropy"

// SaveModel writes w to dir (created if needed) in the layout LoadModel
// reads: config.json as {"model_type": "blt_entropy", "args": {…}} and
// model.safetensors with every tensor in dtype "F32" or "BF16" ("F16" works
// too; BF16 and F16 round to nearest even). Each file is written to a
// temporary name and renamed into place; the weights go first, so a
// config.json never describes weights that are not there yet. w is not
// modified: load the directory again to get the file's SHA256.
func SaveModel(dir string, w *Weights, dtype string) error {
	switch dtype {
	case "F32", "BF16", "F16":
	default:
		return fmt.Errorf("save model %s: dtype %q not supported (want F32 or BF16)", dir, dtype)
	}
	if err := w.Validate(); err != nil {
		return fmt.Errorf("save model %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save model %s: %w", dir, err)
	}
	refs := w.Tensors()
	tensors := make([]safetensors.Tensor, len(refs))
	for i, r := range refs {
		tensors[i] = safetensors.Tensor{Name: r.Name, DType: dtype, Shape: r.Shape, Data: *r.Data}
	}
	meta := map[string]string{"format": "pt", "model_type": ModelType}
	if err := safetensors.Write(filepath.Join(dir, WeightsFile), tensors, meta); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(struct {
		ModelType string `json:"model_type"`
		Args      Config `json:"args"`
	}{ModelType, w.Config}, "", "  ")
	if err != nil {
		return fmt.Errorf("save model %s: %w", dir, err)
	}
	return WriteFileAtomic(filepath.Join(dir, ConfigFile), append(cfg, '\n'))
}

// WriteFileAtomic writes b to a temporary file next to path, syncs it and
// renames it over path, so readers never see a partial file. The file keeps
// the permissions of the one it replaces, else 0644.
func WriteFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		perm := os.FileMode(0o644) // CreateTemp makes 0600; a model is meant to be shared
		if info, serr := os.Stat(path); serr == nil {
			perm = info.Mode().Perm()
		}
		err = os.Chmod(tmp.Name(), perm)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
