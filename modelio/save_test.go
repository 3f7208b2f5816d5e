package modelio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSaveModelConfigJSON(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Patching = &PatchingDefaults{Threshold: 1.335}
	if err := SaveModel(dir, RandomWeights(cfg, 1), "BF16"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ModelType string         `json:"model_type"`
		Args      map[string]any `json:"args"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.ModelType != "blt_entropy" {
		t.Errorf("model_type = %q", got.ModelType)
	}
	for key, want := range map[string]any{"dim": 16.0, "n_layers": 2.0, "n_kv_heads": 1.0, "vocab_size": 260.0, "sliding_window": 4.0} {
		if got.Args[key] != want {
			t.Errorf("args.%s = %v, want %v", key, got.Args[key], want)
		}
	}
	if p, ok := got.Args["patching"].(map[string]any); !ok || p["threshold"] != 1.335 {
		t.Errorf("args.patching = %v", got.Args["patching"])
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{ConfigFile, WeightsFile}) {
		t.Errorf("directory holds %v, want only config.json and model.safetensors", names)
	}
}

func TestSaveModelOverwrites(t *testing.T) {
	dir := t.TempDir()
	a, b := RandomWeights(tinyConfig(), 1), RandomWeights(tinyConfig(), 2)
	if err := SaveModel(dir, a, "F32"); err != nil {
		t.Fatal(err)
	}
	first, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveModel(dir, b, "F32"); err != nil {
		t.Fatal(err)
	}
	second, err := LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.SHA256 == second.SHA256 || !reflect.DeepEqual(second.TokEmbeddings, b.TokEmbeddings) {
		t.Error("second SaveModel did not replace the first model")
	}
}

func TestSaveModelErrors(t *testing.T) {
	short := RandomWeights(tinyConfig(), 1)
	short.Layers[1].W2 = short.Layers[1].W2[:10]
	missingLayer := RandomWeights(tinyConfig(), 1)
	missingLayer.Layers = missingLayer.Layers[:1]
	badCfg := RandomWeights(tinyConfig(), 1)
	badCfg.Config.VocabSize = 100
	tests := []struct {
		name  string
		w     *Weights
		dtype string
		want  string
	}{
		{"dtype", RandomWeights(tinyConfig(), 1), "I8", `dtype "I8" not supported`},
		{"short tensor", short, "F32", `tensor "layers.1.feed_forward.w2.weight" has 10 values, shape [16 48] needs 768`},
		{"missing layer", missingLayer, "F32", "weights have 1 layers, config says n_layers 2"},
		{"bad config", badCfg, "F32", "vocab_size must be >= 260"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			err := SaveModel(dir, tt.w, tt.dtype)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "save model "+dir) {
				t.Errorf("SaveModel error = %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("failed SaveModel created the directory")
			}
		})
	}
}
