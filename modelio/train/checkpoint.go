package train

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/safetensors"
)

// A checkpoint is one safetensors file, all F32: "param.NAME", "adam_m.NAME"
// and "adam_v.NAME" for every tensor NAME of modelio.ParamNames, and
// metadata: "bltpipe_checkpoint" "1", "step" (steps completed; the data
// position is step·batch rows, see the package comment), "seed", "config"
// (the model's JSON) and "run" (the JSON of the options that must not
// change on resume).
const checkpointVersion = "1"

// runKey is what a resumed run must share with the run that saved.
type runKey struct {
	SeqLen int    `json:"seq_len"`
	Batch  int    `json:"batch"`
	Steps  int    `json:"steps"`
	Seed   uint64 `json:"seed"`
	Hyper  Hyper  `json:"hyper"`
	DType  string `json:"dtype"`
}

// statePrefixes name the parameters, first and second moments in a file.
var statePrefixes = [3]string{"param.", "adam_m.", "adam_v."}

// state is the optimiser state on the host.
type state struct {
	step         int
	params, m, v [][]float32
}

func saveCheckpoint(path string, cfg modelio.Config, key runKey, st state) error {
	names, shapes := modelio.ParamNames(cfg), modelio.ParamShapes(cfg)
	var ts []safetensors.Tensor
	for k, prefix := range statePrefixes {
		vals := [][][]float32{st.params, st.m, st.v}[k]
		for i, n := range names {
			ts = append(ts, safetensors.Tensor{Name: prefix + n, DType: "F32", Shape: shapes[i], Data: vals[i]})
		}
	}
	cj, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	kj, err := json.Marshal(key)
	if err != nil {
		return err
	}
	meta := map[string]string{
		"bltpipe_checkpoint": checkpointVersion,
		"step":               strconv.Itoa(st.step),
		"seed":               strconv.FormatUint(key.Seed, 10),
		"config":             string(cj),
		"run":                string(kj),
	}
	if err := safetensors.Write(path, ts, meta); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// loadCheckpoint reads a checkpoint saved by a run with the same model
// config and run key; any difference is an error naming both values.
func loadCheckpoint(path string, cfg modelio.Config, key runKey) (state, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return state{}, fmt.Errorf("resume: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	if meta["bltpipe_checkpoint"] != checkpointVersion {
		return state{}, fmt.Errorf("resume: %s is not a bltpipe training checkpoint (version %q)", path, meta["bltpipe_checkpoint"])
	}
	cj, _ := json.Marshal(cfg)
	if meta["config"] != string(cj) {
		return state{}, fmt.Errorf("resume: %s was saved for model %s, this run trains %s; use the same model flags or a fresh --out", path, meta["config"], cj)
	}
	kj, _ := json.Marshal(key)
	if meta["run"] != string(kj) {
		return state{}, fmt.Errorf("resume: %s was saved by a run with %s, this run has %s; resume needs the same options", path, meta["run"], kj)
	}
	step, err := strconv.Atoi(meta["step"])
	if err != nil || step < 0 {
		return state{}, fmt.Errorf("resume: %s: bad step %q", path, meta["step"])
	}
	st := state{step: step}
	for k, prefix := range statePrefixes {
		dst := []*[][]float32{&st.params, &st.m, &st.v}[k]
		for _, n := range modelio.ParamNames(cfg) {
			d, err := f.Float32(prefix + n)
			if err != nil {
				return state{}, fmt.Errorf("resume: %w", err)
			}
			*dst = append(*dst, d)
		}
	}
	return st, nil
}

// CheckpointWeights returns the model weights a checkpoint holds (float32),
// with the config and the number of steps it had completed, whatever run
// wrote it: an interrupted run's progress can be shipped or evaluated.
func CheckpointWeights(path string) (w *modelio.Weights, step int, err error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read checkpoint: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	if meta["bltpipe_checkpoint"] != checkpointVersion {
		return nil, 0, fmt.Errorf("read checkpoint: %s is not a bltpipe training checkpoint", path)
	}
	var cfg modelio.Config
	if err := json.Unmarshal([]byte(meta["config"]), &cfg); err != nil {
		return nil, 0, fmt.Errorf("read checkpoint %s: config: %w", path, err)
	}
	if step, err = strconv.Atoi(meta["step"]); err != nil {
		return nil, 0, fmt.Errorf("read checkpoint %s: bad step %q", path, meta["step"])
	}
	var params [][]float32
	for _, n := range modelio.ParamNames(cfg) {
		d, err := f.Float32(statePrefixes[0] + n)
		if err != nil {
			return nil, 0, fmt.Errorf("read checkpoint: %w", err)
		}
		params = append(params, d)
	}
	w, err = modelio.WeightsFromParams(cfg, params)
	if err != nil {
		return nil, 0, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	return w, step, nil
}
