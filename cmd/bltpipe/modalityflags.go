package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/bltpipe/bltpipe/transforms/pretokenize"
	"github.com/bltpipe/bltpipe/transforms/pretokenize/modality"
)

// modalityFlags are bltpipe run's settings of the "modality" segmenter
// (how PDFs, images, audio and video become views) and the patch cut at
// segment starts. Its limits (--max-archive-depth, …) are limitFlags'.
type modalityFlags struct {
	pdfMode                                      *string
	audioRate, imagePatch, videoEvery, videoSize *int
	audioMono, segmentStartsPatch                *bool
}

func addModalityFlags(fs *flag.FlagSet) *modalityFlags {
	return &modalityFlags{
		pdfMode:            fs.String("pdf-mode", modality.PDFText, "how a PDF is read: `mode` text (its text, a segment per page), raw (its bytes) or multiview (raw + text + one view per embedded image)"),
		audioRate:          fs.Int("audio-rate", 16000, "audio is resampled to this rate in `Hz` (16-bit PCM; -1 keeps the source rate)"),
		audioMono:          fs.Bool("audio-mono", false, "down-mix audio to one channel"),
		imagePatch:         fs.Int("image-patch", 16, "images become square patches of `P`×P pixels (RGB, patch-major), one segment per patch run"),
		videoEvery:         fs.Int("video-every", 10, "keep every `k`-th video frame (video needs ffmpeg on PATH)"),
		videoSize:          fs.Int("video-size", 224, "video frames are scaled to `S`×S pixels (RGB)"),
		segmentStartsPatch: fs.Bool("segment-starts-patch", false, "cut patches so that every segment (paragraph, function, image patch, audio frame, page, …) starts a patch"),
	}
}

// apply merges the flags into the segmenter options (JSON that may already
// hold modality limits) when the segmenter resolves to "modality"; other
// segmenters take no options.
func (f *modalityFlags) apply(segmenter, config string) (string, error) {
	if _, name, err := pretokenize.Lookup(segmenter); err != nil || name != "modality" {
		return config, err
	}
	if *f.audioRate == 0 || *f.audioRate < -1 {
		return "", fmt.Errorf("--audio-rate %d: want a rate in Hz, or -1 for the source rate", *f.audioRate)
	}
	for name, v := range map[string]int{"image-patch": *f.imagePatch, "video-every": *f.videoEvery, "video-size": *f.videoSize} {
		if v < 1 {
			return "", fmt.Errorf("--%s must be ≥ 1", name)
		}
	}
	var o modality.Options
	if config != "" {
		if err := json.Unmarshal([]byte(config), &o); err != nil {
			return "", fmt.Errorf("segmenter options %s: %w", config, err)
		}
	}
	o.PDFMode, o.AudioRate, o.AudioMono = *f.pdfMode, *f.audioRate, *f.audioMono
	o.ImagePatch, o.VideoEvery, o.VideoSize = *f.imagePatch, *f.videoEvery, *f.videoSize
	s, err := o.Config()
	if err != nil {
		return "", fmt.Errorf("--pdf-mode, --audio-*, --image-patch, --video-*: %w", err)
	}
	return s, nil
}
