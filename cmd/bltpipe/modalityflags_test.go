package main

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
)

// The modality flags reach the segmenter's options (merged with the
// limits), --segment-starts-patch reaches the patch stage, and bad values
// are usage errors.
func TestModalityFlags(t *testing.T) {
	model := t.TempDir()
	base := []string{"--input", "x", "--output", t.TempDir(), "--model", model}
	rf, err := parseRunFlags(append(base, "--pdf-mode", "multiview", "--audio-rate", "8000", "--image-patch", "8",
		"--video-every", "5", "--video-size", "32", "--max-archive-depth", "2", "--segment-starts-patch"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var o modality.Options
	if err := json.Unmarshal([]byte(rf.opts.Limits.SegmenterOptions), &o); err != nil {
		t.Fatalf("segmenter options %q: %v", rf.opts.Limits.SegmenterOptions, err)
	}
	if o.PDFMode != modality.PDFMultiview || o.AudioRate != 8000 || o.ImagePatch != 8 || o.VideoEvery != 5 || o.VideoSize != 32 || o.Limits.MaxDepth != 2 {
		t.Errorf("segmenter options %+v", o)
	}
	if !rf.opts.SegmentStartsPatch {
		t.Error("--segment-starts-patch did not reach the options")
	}
	rf, err = parseRunFlags(append(base, "--segmenter", "basic"), io.Discard)
	if err != nil || rf.opts.Limits.SegmenterOptions != "" {
		t.Errorf("basic segmenter: options %q, err %v (it takes none)", rf.opts.Limits.SegmenterOptions, err)
	}
	for _, bad := range [][]string{{"--pdf-mode", "pages"}, {"--video-every", "0"}, {"--image-patch", "-1"}, {"--audio-rate", "0"}} {
		if _, err := parseRunFlags(append(base, bad...), io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
