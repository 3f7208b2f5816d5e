package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/fetch"
)

// ModelEnv overrides where the default model is looked up.
const modelEnv = "BLTPIPE_MODEL"

const defaultModelHelp = "$BLTPIPE_MODEL, else models/default in the working directory or beside the executable"

// resolveModelDir returns dir if given, else the default model: $BLTPIPE_MODEL,
// ./models/default, or models/default next to (or one level above) the
// bltpipe executable, the first that holds a model config. A gs:// or
// hf:// model is downloaded (once per process, verified; see modelio/fetch)
// and its local copy returned.
func resolveModelDir(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv(modelEnv)
	}
	if dir != "" {
		return fetchModel(dir)
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

// fetchModel returns the local directory of a model: dir itself, or the
// download of a gs:// or hf:// model (fetched once per process).
func fetchModel(dir string) (string, error) {
	local, err := fetch.Local(context.Background(), dir)
	if err != nil {
		return "", usageErrorf("--model: %v", err)
	}
	return local, nil
}

// localModel is fetchModel for a model resolveModel already fetched (the
// download is remembered); on error it returns dir, whose load then fails
// with the reason.
func localModel(dir string) string {
	if local, err := fetchModel(dir); err == nil {
		return local
	}
	return dir
}
