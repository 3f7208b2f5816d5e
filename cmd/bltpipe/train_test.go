package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio"
)

// writeCorpus writes a small JSONL corpus and returns its path.
func writeCorpus(t *testing.T, dir string, n int) string {
	t.Helper()
	var b bytes.Buffer
	for i := range n {
		line, _ := json.Marshal(map[string]string{"text": fmt.Sprintf("the cat %d sat on the mat. the dog ran. ", i%7)})
		b.Write(append(line, '\n'))
	}
	path := filepath.Join(dir, "corpus.jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var tinyTrainFlags = []string{"--dim", "32", "--layers", "1", "--heads", "2", "--window", "16", "--multiple-of", "16",
	"--seq-len", "32", "--batch", "4", "--steps", "12", "--warmup", "2", "--lr", "1e-2", "--log-every", "4",
	"--backend", "simplego", "--save-dtype", "F32", "--holdout-frac", "0.1"}

func TestTrainCommandAndResume(t *testing.T) {
	tmp := t.TempDir()
	corpus := writeCorpus(t, tmp, 30)
	run := func(extra ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"train", "--corpus", corpus, "--eval", "again=" + corpus}, tinyTrainFlags...)
		if code := dispatch(append(args, extra...), &out, &errOut); code != exitOK {
			t.Fatalf("train %v: exit %d: %s%s", extra, code, out.String(), errOut.String())
		}
		return out.String()
	}
	full := filepath.Join(tmp, "full")
	logFull := run("--out", full)
	for _, want := range []string{"step 12/12 loss", "eval step 12 valid:", "eval step 12 again:", "saved " + full} {
		if !strings.Contains(logFull, want) {
			t.Errorf("log lacks %q:\n%s", want, logFull)
		}
	}
	w, err := modelio.LoadModel(full)
	if err != nil {
		t.Fatal(err)
	}
	if w.Config.Dim != 32 || w.Config.SlidingWindow != 16 || w.DType != "F32" {
		t.Errorf("saved model %+v (%s)", w.Config, w.DType)
	}
	var sum trainSummary
	if b, err := os.ReadFile(filepath.Join(full, "training.json")); err != nil || json.Unmarshal(b, &sum) != nil || len(sum.Eval) != 2 {
		t.Errorf("training.json: %+v, %v", sum, err)
	}

	// Interrupted after 6 steps, then resumed: same final weights.
	parts := filepath.Join(tmp, "parts")
	if log := run("--out", parts, "--stop-after", "6"); !strings.Contains(log, "stopped after step 6") {
		t.Fatalf("interrupted run log:\n%s", log)
	}
	if log := run("--out", parts, "--resume"); !strings.Contains(log, "resumed from") {
		t.Fatalf("resumed run log:\n%s", log)
	}
	w2, err := modelio.LoadModel(parts)
	if err != nil {
		t.Fatal(err)
	}
	if w2.SHA256 != w.SHA256 {
		t.Error("interrupted and resumed run saved other weights than the uninterrupted one")
	}

	// --export writes the checkpoint's weights: the same model file.
	exported := filepath.Join(tmp, "exported")
	var out, errOut bytes.Buffer
	exportArgs := []string{"train", "--export", "--checkpoint", filepath.Join(full, "checkpoint.safetensors"), "--out", exported,
		"--save-dtype", "F32", "--seq-len", "32", "--batch", "4", "--backend", "simplego", "--eval", "again=" + corpus}
	if code := dispatch(exportArgs, &out, &errOut); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "exported step 12") || !strings.Contains(out.String(), "eval again:") {
		t.Errorf("export output:\n%s", out.String())
	}
	if w3, err := modelio.LoadModel(exported); err != nil || w3.SHA256 != w.SHA256 {
		t.Errorf("exported model differs from the trained one (%v)", err)
	}

	if code := dispatch([]string{"train", "--out", tmp}, &out, &errOut); code != exitUsage {
		t.Errorf("train without --corpus: exit %d, want %d", code, exitUsage)
	}
	if code := dispatch([]string{"train", "--corpus", filepath.Join(tmp, "none*"), "--out", tmp}, &out, &errOut); code != exitUsage {
		t.Errorf("train with an empty glob: exit %d, want %d", code, exitUsage)
	}
}

func TestCalibrateCommand(t *testing.T) {
	dir := saveTestModel(t)
	tmp := t.TempDir()
	sample := writeCorpus(t, tmp, 6)
	var out, errOut bytes.Buffer
	args := []string{"calibrate", "--model", dir, "--input", sample, "--target-patch-size", "3", "--check", "same=" + sample, "--write"}
	if code := dispatch(args, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	t.Log(out.String())
	cfg, err := modelio.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Patching == nil || cfg.Patching.TargetPatchLength != 3 || cfg.Patching.Threshold <= 0 {
		t.Fatalf("patching after --write: %+v", cfg.Patching)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("threshold %.9g nats: mean patch length 3.0", cfg.Patching.Threshold)) &&
		!strings.Contains(out.String(), fmt.Sprintf("threshold %.9g nats: mean patch length 2.9", cfg.Patching.Threshold)) {
		t.Errorf("output does not report the written threshold near the target:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "check same:") {
		t.Errorf("no check line:\n%s", out.String())
	}
	// score now uses the calibrated threshold by default.
	out.Reset()
	if code := dispatch([]string{"score", "--model", dir, "--text", "the cat sat"}, &out, &errOut); code != exitOK {
		t.Fatalf("score: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("threshold %.6g nats", cfg.Patching.Threshold)) {
		t.Errorf("score does not use the calibrated threshold:\n%s", out.String())
	}
	if code := dispatch([]string{"calibrate", "--model", dir, "--input", sample, "--target-patch-size", "500"}, &out, &errOut); code != exitUsage {
		t.Errorf("unreachable target: exit %d, want %d", code, exitUsage)
	}
}
