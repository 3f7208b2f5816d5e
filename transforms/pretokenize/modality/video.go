package modality

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// errNoFFmpeg is returned by ffmpegRun when the binary is not found.
var errNoFFmpeg = errors.New("ffmpeg not found on PATH")

// ffmpegRun writes input to a temporary file (containers like MP4 need to
// seek), runs ffmpeg on it with outArgs and "pipe:1" as the output, and
// returns stdout, failing if it grows past maxOut bytes. It runs single
// threaded with -bitexact so the output is reproducible for one ffmpeg
// build.
func ffmpegRun(o Options, input []byte, maxOut int64, outArgs ...string) ([]byte, error) {
	bin, err := exec.LookPath(o.FFmpeg)
	if err != nil {
		return nil, errNoFFmpeg
	}
	tmp, err := writeTemp(input)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	args := append([]string{"-nostdin", "-hide_banner", "-v", "error", "-threads", "1", "-i", tmp, "-bitexact"}, outArgs...)
	args = append(args, "pipe:1")
	out := &cappedBuffer{max: maxOut}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, &stderr
	err = cmd.Run()
	if out.over {
		return nil, fmt.Errorf("ffmpeg output passed %d bytes (raise the limits to accept it)", maxOut)
	}
	if err != nil {
		// The temporary file's random name would make reasons differ between
		// runs; name it "input".
		msg := strings.TrimSpace(strings.ReplaceAll(stderr.String(), tmp, "input"))
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, msg)
	}
	return out.Bytes(), nil
}

func writeTemp(b []byte) (string, error) {
	f, err := os.CreateTemp("", "bltpipe-modality-*")
	if err != nil {
		return "", fmt.Errorf("temp file for ffmpeg: %w", err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write temp file for ffmpeg: %v %v", werr, cerr)
	}
	return f.Name(), nil
}

// cappedBuffer fails writes past max bytes.
type cappedBuffer struct {
	bytes.Buffer
	max  int64
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if int64(c.Len()+len(p)) > c.max {
		c.over = true
		return 0, errors.New("output limit")
	}
	return c.Buffer.Write(p)
}

// probe is what ffmpeg says about a file's first video and audio streams.
type probe struct {
	video, audio bool
	rate         int // audio sample rate
	channels     int // audio channels (1 or 2; other layouts are down-mixed to 2)
}

var (
	reStream = regexp.MustCompile(`Stream #0:\d+.*?: (Video|Audio): (.*)`)
	reHz     = regexp.MustCompile(`(\d+) Hz`)
)

func ffprobe(o Options, tmp string) (probe, error) {
	bin, err := exec.LookPath(o.FFmpeg)
	if err != nil {
		return probe{}, errNoFFmpeg
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-nostdin", "-hide_banner", "-i", tmp)
	cmd.Stderr = &stderr
	_ = cmd.Run() // exits 1: no output file; the stream list is on stderr
	var p probe
	for _, m := range reStream.FindAllStringSubmatch(stderr.String(), -1) {
		switch {
		case m[1] == "Video" && !p.video && !strings.Contains(m[2], "attached pic"):
			p.video = true
		case m[1] == "Audio" && !p.audio:
			p.audio = true
			if hz := reHz.FindStringSubmatch(m[2]); hz != nil {
				p.rate, _ = strconv.Atoi(hz[1])
			}
			p.channels = 2
			if strings.Contains(m[2], " mono") {
				p.channels = 1
			}
		}
	}
	if !p.video && !p.audio {
		// The temporary file's random name would make reasons differ between
		// runs; name it "input".
		msg := strings.TrimSpace(strings.ReplaceAll(stderr.String(), tmp, "input"))
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return p, fmt.Errorf("ffmpeg finds no audio or video stream: %s", msg)
	}
	return p, nil
}

// extractVideo needs the ffmpeg binary. Views: "frames" (every
// Options.VideoEvery-th frame, scaled to VideoSize×VideoSize RGB, frames
// back to back, rows top to bottom; one "frame" segment each, meta frame,
// source_frame, width, height) and "audio" (the first audio track, as for
// audio files). Frames past Limits.MaxAudioSeconds are not read.
func extractVideo(src *Source, data []byte, o Options) error {
	if _, err := exec.LookPath(o.FFmpeg); err != nil {
		return errors.New("video needs ffmpeg on PATH")
	}
	tmp, err := writeTemp(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	p, err := ffprobe(o, tmp)
	if err != nil {
		return err
	}
	maxSec := fmt.Sprint(o.Limits.MaxAudioSeconds)
	if p.video {
		size := o.VideoSize
		fsz := size * size * 3
		vf := fmt.Sprintf("select=not(mod(n\\,%d)),scale=%d:%d:flags=bilinear", o.VideoEvery, size, size)
		raw, err := ffmpegRun(o, data, o.Limits.MaxExpandedBytes, "-map", "0:v:0", "-t", maxSec, "-vf", vf,
			"-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo")
		if err != nil {
			return fmt.Errorf("decode video: %w", err)
		}
		if len(raw) == 0 || len(raw)%fsz != 0 {
			return fmt.Errorf("decode video: %d bytes is not a whole number of %dx%d frames", len(raw), size, size)
		}
		v := View{Name: "frames", Modality: ModVideo, Data: raw, Meta: map[string]any{
			"width": size, "height": size, "every": o.VideoEvery, "layout": "frame-major RGB"}}
		for k := 0; k*fsz < len(raw); k++ {
			v.Segments = append(v.Segments, Segment{Label: "frame", Start: k * fsz, End: (k + 1) * fsz, Meta: map[string]any{
				"frame": k, "source_frame": k * o.VideoEvery, "width": size, "height": size}})
		}
		src.Views = append(src.Views, v)
	}
	if p.audio {
		rate := p.rate
		if rate <= 0 {
			rate = 48000
		}
		maxOut := int64(o.Limits.MaxAudioSeconds*float64(rate)+1) * int64(p.channels) * 2
		raw, err := ffmpegRun(o, data, maxOut, "-map", "0:a:0", "-t", maxSec, "-f", "s16le", "-acodec", "pcm_s16le",
			"-ac", fmt.Sprint(p.channels), "-ar", fmt.Sprint(rate))
		if err != nil {
			return fmt.Errorf("decode audio track: %w", err)
		}
		s := make([]int16, len(raw)/2/p.channels*p.channels)
		for i := range s {
			s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		if len(s) > 0 {
			v, err := audioView("audio", pcm{rate: rate, channels: p.channels, s: s}, o)
			if err != nil {
				return fmt.Errorf("audio track: %w", err)
			}
			src.Views = append(src.Views, v)
		}
	}
	if len(src.Views) == 0 {
		return errors.New("video has no decodable frames or audio")
	}
	return nil
}
