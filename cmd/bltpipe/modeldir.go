package main

import (
	"os"
	"path/filepath"

	"github.com/bltpipe/bltpipe/modelio"
)

// ModelEnv overrides where the default model is looked up.
const modelEnv = "BLTPIPE_MODEL"

const defaultModelHelp = "$BLTPIPE_MODEL, else models/default in the working directory or beside the executable"

// resolveModelDir returns dir if given, else the default model: $BLTPIPE_MODEL,
// ./models/default, or models/default next to (or one level above) the
// bltpipe executable, the first that holds a model config.
func resolveModelDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if env := os.Getenv(modelEnv); env != "" {
		return env, nil
	}
	candidates := []string{filepath.Join("models", "default")}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		candidates = append(candidates, filepath.Join(d, "models", "default"), filepath.Join(d, "..", "models", "default"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, modelio.ConfigFile)); err == nil {
			return c, nil
		}
	}
	return "", usageErrorf("no model given and no default model found (looked in %v); pass --model DIR or set %s", candidates, modelEnv)
}
