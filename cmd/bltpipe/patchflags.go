package main

import (
	"flag"

	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
)

// patchFlags are the patcher flags shared by every command that patches.
type patchFlags struct {
	fs           *flag.FlagSet
	mode         *string
	threshold    *float64
	monotonic    *bool
	thresholdAdd *float64
	patchSize    *int
	maxLen       *int
}

func addPatchFlags(fs *flag.FlagSet) *patchFlags {
	return &patchFlags{
		fs:           fs,
		mode:         fs.String("mode", string(patcher.ModeEntropy), "patching `mode`: entropy, static, byte or space"),
		threshold:    fs.Float64("threshold", patcher.DefaultThreshold, "entropy threshold in `nats` (entropy mode; default: the model's calibrated threshold if it has one)"),
		monotonic:    fs.Bool("monotonic", false, "compare entropy differences with --threshold (entropy mode)"),
		thresholdAdd: fs.Float64("threshold-add", 0, "also require the entropy to rise by more than `A` nats (entropy mode; 0 is a setting)"),
		patchSize:    fs.Int("patch-size", 0, "patch length in tokens (static mode)"),
		maxLen:       fs.Int("max-patch-length", 0, "split patches longer than `N` tokens (0: no limit)"),
	}
}

// options returns the validated patcher options. A model's calibrated
// threshold (may be nil) replaces the default when --threshold is not given.
func (p *patchFlags) options(model *modelio.PatchingDefaults) (patcher.Options, error) {
	set := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := patcher.Options{
		Mode:           patcher.Mode(*p.mode),
		Threshold:      *p.threshold,
		Monotonic:      *p.monotonic,
		PatchSize:      *p.patchSize,
		MaxPatchLength: *p.maxLen,
	}
	if !set["threshold"] && model != nil && model.Threshold > 0 {
		o.Threshold = model.Threshold
	}
	if set["threshold-add"] {
		o.ThresholdAdd = p.thresholdAdd
	}
	if set["threshold"] && o.Mode != patcher.ModeEntropy {
		return o, usageErrorf("--threshold applies to --mode entropy only, not %s", o.Mode)
	}
	if err := o.Validate(); err != nil {
		return o, usageErrorf("%v", err)
	}
	return o, nil
}
