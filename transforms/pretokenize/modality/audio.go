package modality

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"strings"

	"github.com/hajimehoshi/go-mp3"
	"github.com/mewkiz/flac"
)

// pcm is decoded audio: 16-bit samples, channels interleaved.
type pcm struct {
	rate, channels int
	s              []int16
}

func (p pcm) frames() int { return len(p.s) / p.channels }

// extractAudio decodes WAV (8/16/24/32-bit integer PCM, 32/64-bit float;
// by hand), FLAC (mewkiz/flac), MP3 (hajimehoshi/go-mp3) or Ogg Vorbis/Opus
// (the ffmpeg binary: no pure-Go Vorbis decoder is available to this
// module) into an "audio" view (see audioView). The duration is checked
// against Limits.MaxAudioSeconds from the header where it has one, and
// while decoding otherwise.
func extractAudio(src *Source, kind string, data []byte, o Options) error {
	var (
		p   pcm
		err error
	)
	maxSec := o.Limits.MaxAudioSeconds
	switch kind {
	case "wav":
		p, err = decodeWAV(data, maxSec)
	case "flac":
		p, err = decodeFLAC(data, maxSec)
	case "mp3":
		p, err = decodeMP3(data, maxSec)
	case "ogg":
		p, err = decodeOgg(data, o)
	default:
		err = fmt.Errorf("no decoder for audio format %q", kind)
	}
	if err != nil {
		return err
	}
	v, err := audioView("audio", p, o)
	if err != nil {
		return err
	}
	src.Views = []View{v}
	return nil
}

func checkSeconds(frames int64, rate int, maxSec float64) error {
	if rate <= 0 {
		return fmt.Errorf("bad sample rate %d", rate)
	}
	if sec := float64(frames) / float64(rate); sec > maxSec {
		return fmt.Errorf("audio lasts %.1f s, over the limit of %g s (Limits.MaxAudioSeconds)", sec, maxSec)
	}
	return nil
}

// audioView converts p to the output format and cuts it into frames.
//
// Output: 16-bit little-endian PCM, channels interleaved; down-mixed to
// mono (integer mean of the channels) when Options.AudioMono; resampled to
// Options.AudioRate by linear interpolation between the two nearest input
// samples (integer arithmetic, so exactly reproducible), output length
// floor(n·out/in) samples per channel.
//
// Segments: "frame"s of AudioFrame samples per channel (the last one may be
// shorter), so every output sample is in exactly one frame. Meta: frame
// (index), start (seconds), rate, channels.
func audioView(name string, p pcm, o Options) (View, error) {
	if p.channels <= 0 || p.rate <= 0 {
		return View{}, fmt.Errorf("bad audio format: %d channels at %d Hz", p.channels, p.rate)
	}
	if p.frames() == 0 {
		return View{}, errors.New("audio has no samples")
	}
	srcRate, srcCh := p.rate, p.channels
	if o.AudioMono && p.channels > 1 {
		p = downmix(p)
	}
	if o.AudioRate > 0 && o.AudioRate != p.rate {
		p = resample(p, o.AudioRate)
		if p.frames() == 0 {
			return View{}, errors.New("audio shorter than one output sample")
		}
	}
	data := make([]byte, 2*len(p.s))
	for i, s := range p.s {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	fb := o.AudioFrame * p.channels * 2
	var segs []Segment
	for k, off := 0, 0; off < len(data); k, off = k+1, off+fb {
		segs = append(segs, Segment{Label: "frame", Start: off, End: min(off+fb, len(data)), Meta: map[string]any{
			"frame": k, "start": float64(k*o.AudioFrame) / float64(p.rate), "rate": p.rate, "channels": p.channels,
		}})
	}
	return View{Name: name, Modality: ModAudio, Data: data, Segments: segs, Meta: map[string]any{
		"rate": p.rate, "channels": p.channels, "samples": p.frames(), "encoding": "s16le",
		"source_rate": srcRate, "source_channels": srcCh, "frame_samples": o.AudioFrame,
	}}, nil
}

func downmix(p pcm) pcm {
	out := make([]int16, p.frames())
	for i := range out {
		var sum int
		for c := 0; c < p.channels; c++ {
			sum += int(p.s[i*p.channels+c])
		}
		out[i] = int16(sum / p.channels)
	}
	return pcm{rate: p.rate, channels: 1, s: out}
}

func resample(p pcm, rate int) pcm {
	n, ch := int64(p.frames()), p.channels
	in, out := int64(p.rate), int64(rate)
	m := n * out / in
	res := make([]int16, m*int64(ch))
	for i := int64(0); i < m; i++ {
		num := i * in
		j, frac := num/out, num%out
		k := min(j+1, n-1)
		for c := 0; c < ch; c++ {
			a, b := int64(p.s[j*int64(ch)+int64(c)]), int64(p.s[k*int64(ch)+int64(c)])
			res[i*int64(ch)+int64(c)] = int16(a + (b-a)*frac/out)
		}
	}
	return pcm{rate: rate, channels: ch, s: res}
}

// decodeWAV reads a RIFF/WAVE file: PCM (format 1) of 8 (unsigned), 16,
// 24 or 32 bits, IEEE float (format 3) of 32 or 64 bits, or either inside
// WAVE_FORMAT_EXTENSIBLE. Samples are scaled to 16 bits (integer: the top
// 16 bits; float: ×32767, rounded, clamped).
func decodeWAV(data []byte, maxSec float64) (pcm, error) {
	if len(data) < 12 || string(data[8:12]) != "WAVE" {
		return pcm{}, errors.New("not a RIFF/WAVE file")
	}
	if string(data[:4]) == "RF64" {
		return pcm{}, errors.New("RF64 (64-bit WAV) is not supported")
	}
	var (
		format, channels, align, bits int
		rate                          int
		body                          []byte
		haveFmt                       bool
	)
	for pos := 12; pos+8 <= len(data); {
		id := string(data[pos : pos+4])
		size := int64(binary.LittleEndian.Uint32(data[pos+4:]))
		pos += 8
		if size > int64(len(data)-pos) {
			return pcm{}, fmt.Errorf("WAV chunk %q needs %d bytes, %d left (truncated)", id, size, len(data)-pos)
		}
		chunk := data[pos : pos+int(size)]
		switch id {
		case "fmt ":
			if len(chunk) < 16 {
				return pcm{}, errors.New("WAV fmt chunk too short")
			}
			format = int(binary.LittleEndian.Uint16(chunk))
			channels = int(binary.LittleEndian.Uint16(chunk[2:]))
			rate = int(binary.LittleEndian.Uint32(chunk[4:]))
			align = int(binary.LittleEndian.Uint16(chunk[12:]))
			bits = int(binary.LittleEndian.Uint16(chunk[14:]))
			if format == 0xfffe {
				if len(chunk) < 26 {
					return pcm{}, errors.New("WAV extensible fmt chunk too short")
				}
				format = int(binary.LittleEndian.Uint16(chunk[24:]))
			}
			haveFmt = true
		case "data":
			body = chunk
		}
		pos += int(size) + int(size&1)
		if body != nil && haveFmt {
			break
		}
	}
	if !haveFmt || body == nil {
		return pcm{}, errors.New("WAV has no fmt or data chunk")
	}
	if channels <= 0 || rate <= 0 || align != channels*bits/8 || bits%8 != 0 || bits == 0 {
		return pcm{}, fmt.Errorf("bad WAV format: %d channels, %d Hz, %d bits, block %d", channels, rate, bits, align)
	}
	width := bits / 8
	switch {
	case format == 1 && width >= 1 && width <= 4:
	case format == 3 && (width == 4 || width == 8):
	default:
		return pcm{}, fmt.Errorf("unsupported WAV encoding: format %d, %d bits", format, bits)
	}
	n := len(body) / align
	if err := checkSeconds(int64(n), rate, maxSec); err != nil {
		return pcm{}, err
	}
	s := make([]int16, n*channels)
	for i := range s {
		b := body[i*width:]
		switch {
		case format == 3 && width == 4:
			s[i] = floatTo16(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		case format == 3:
			s[i] = floatTo16(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		case width == 1:
			s[i] = int16(int(b[0])-128) << 8
		case width == 2:
			s[i] = int16(binary.LittleEndian.Uint16(b))
		case width == 3:
			s[i] = int16(uint16(b[1]) | uint16(b[2])<<8)
		default:
			s[i] = int16(binary.LittleEndian.Uint16(b[2:]))
		}
	}
	return pcm{rate: rate, channels: channels, s: s}, nil
}

func floatTo16(f float64) int16 {
	if math.IsNaN(f) {
		return 0
	}
	v := math.Round(f * 32767)
	return int16(max(-32768, min(32767, v)))
}

// decodeFLAC decodes every frame; samples of other widths are shifted to
// 16 bits.
func decodeFLAC(data []byte, maxSec float64) (pcm, error) {
	st, err := flac.New(bytes.NewReader(data))
	if err != nil {
		return pcm{}, fmt.Errorf("read FLAC header: %w", err)
	}
	defer st.Close()
	info := st.Info
	ch, bps, rate := int(info.NChannels), int(info.BitsPerSample), int(info.SampleRate)
	if err := checkSeconds(int64(info.NSamples), rate, maxSec); err != nil {
		return pcm{}, err
	}
	maxFrames := int64(maxSec * float64(rate))
	var s []int16
	for {
		f, err := st.ParseNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			return pcm{}, fmt.Errorf("decode FLAC frame: %w", err)
		}
		if len(f.Subframes) != ch {
			return pcm{}, fmt.Errorf("FLAC frame has %d channels, stream %d", len(f.Subframes), ch)
		}
		n := int(f.BlockSize)
		for _, sf := range f.Subframes {
			if len(sf.Samples) < n {
				return pcm{}, errors.New("FLAC subframe shorter than its block")
			}
		}
		for i := 0; i < n; i++ {
			for c := 0; c < ch; c++ {
				v := sf32(f.Subframes[c].Samples[i], bps)
				s = append(s, v)
			}
		}
		if int64(len(s)/ch) > maxFrames {
			return pcm{}, checkSeconds(int64(len(s)/ch), rate, maxSec)
		}
	}
	if got := uint64(len(s) / ch); info.NSamples > 0 && got != info.NSamples {
		return pcm{}, fmt.Errorf("FLAC has %d samples of the %d its header declares (truncated?)", got, info.NSamples)
	}
	return pcm{rate: rate, channels: ch, s: s}, nil
}

func sf32(v int32, bps int) int16 {
	switch {
	case bps > 16:
		return int16(v >> (bps - 16))
	case bps < 16:
		return int16(v << (16 - bps))
	}
	return int16(v)
}

// decodeMP3 decodes MPEG-1/2 Layer III to 16-bit stereo (go-mp3 always
// outputs two channels). go-mp3 indexes its tables with values read from the
// stream without bounds checks (found by FuzzExtract: MPEG-2 scale factors,
// testdata/fuzz/FuzzExtract/da59329fab0b4e6c), so a panic inside it is a
// malformed file, reported as a decode error; a panic in our own code still
// reaches extractFormat's ErrPanic.
func decodeMP3(data []byte, maxSec float64) (out pcm, err error) {
	if err := checkMP3Frames(data); err != nil {
		return pcm{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			if !panickedIn(debug.Stack(), "github.com/hajimehoshi/go-mp3") {
				panic(r)
			}
			out, err = pcm{}, fmt.Errorf("decode MP3: malformed frame data (%v)", r)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(data))
	if err != nil {
		return pcm{}, fmt.Errorf("read MP3: %w", err)
	}
	rate := d.SampleRate()
	if err := checkSeconds(d.Length()/4, rate, maxSec); err != nil {
		return pcm{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(d, int64(maxSec*float64(rate))*4+4))
	if err != nil {
		return pcm{}, fmt.Errorf("decode MP3: %w", err)
	}
	if err := checkSeconds(int64(len(raw)/4), rate, maxSec); err != nil {
		return pcm{}, err
	}
	s := make([]int16, len(raw)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm{rate: rate, channels: 2, s: s}, nil
}

// oggHead reads the channel count and rate from the identification header
// in an Ogg file's first page (Vorbis or Opus; Opus decodes at 48 kHz).
func oggHead(data []byte) (codec string, channels, rate int, err error) {
	if len(data) < 27 || string(data[:4]) != "OggS" {
		return "", 0, 0, errors.New("not an Ogg file")
	}
	nseg := int(data[26])
	if len(data) < 27+nseg {
		return "", 0, 0, errors.New("Ogg page truncated")
	}
	pkt := data[27+nseg:]
	switch {
	case len(pkt) >= 16 && string(pkt[:7]) == "\x01vorbis":
		return "vorbis", int(pkt[11]), int(binary.LittleEndian.Uint32(pkt[12:])), nil
	case len(pkt) >= 10 && string(pkt[:8]) == "OpusHead":
		return "opus", int(pkt[9]), 48000, nil
	}
	return "", 0, 0, errors.New("Ogg stream is neither Vorbis nor Opus")
}

// decodeOgg decodes Ogg Vorbis or Opus with ffmpeg at the stream's own rate
// and channel count (the conversion is audioView's, as for other formats).
func decodeOgg(data []byte, o Options) (pcm, error) {
	codec, ch, rate, err := oggHead(data)
	if err != nil {
		return pcm{}, err
	}
	if ch <= 0 || rate <= 0 {
		return pcm{}, fmt.Errorf("bad Ogg %s header: %d channels at %d Hz", codec, ch, rate)
	}
	maxSec := o.Limits.MaxAudioSeconds
	raw, err := ffmpegRun(o, data, int64(maxSec*float64(rate)+1)*int64(ch)*2+2,
		"-map", "0:a:0", "-t", fmt.Sprint(maxSec+1), "-f", "s16le", "-acodec", "pcm_s16le",
		"-ac", fmt.Sprint(ch), "-ar", fmt.Sprint(rate))
	if errors.Is(err, errNoFFmpeg) {
		return pcm{}, fmt.Errorf("ogg %s audio needs ffmpeg on PATH", codec)
	}
	if err != nil {
		return pcm{}, fmt.Errorf("decode Ogg %s: %w", codec, err)
	}
	if err := checkSeconds(int64(len(raw)/(2*ch)), rate, maxSec); err != nil {
		return pcm{}, err
	}
	s := make([]int16, len(raw)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return pcm{rate: rate, channels: ch, s: s[:len(s)/ch*ch]}, nil
}

// checkMP3Frames walks the chain of MPEG audio frames after any ID3v2 tag:
// each header must be valid and the next must start where it ends, up to
// the end of the file or a trailing ID3v1 tag ("TAG", 128 bytes). A broken
// chain is damage; a frame running past the end is truncation. (go-mp3
// resynchronises silently, so it cannot tell.)
func checkMP3Frames(b []byte) error {
	pos := 0
	if len(b) >= 10 && string(b[:3]) == "ID3" {
		size := int(b[6]&0x7f)<<21 | int(b[7]&0x7f)<<14 | int(b[8]&0x7f)<<7 | int(b[9]&0x7f)
		pos = 10 + size
		if b[5]&0x10 != 0 { // footer
			pos += 10
		}
		// Some encoders pad after the tag: skip zeros to the first frame.
		for pos < len(b) && b[pos] == 0 {
			pos++
		}
	}
	end := len(b)
	if end-pos >= 128 && string(b[end-128:end-125]) == "TAG" {
		end -= 128
	}
	frames := 0
	for pos < end {
		n := mpegFrameLen(b[pos:end])
		if n < 4 {
			if frames > 0 && (end-pos < 4 || bytes.Count(b[pos:end], []byte{0}) == end-pos) {
				break // trailing zero padding
			}
			return fmt.Errorf("MP3 damaged: no frame header at byte %d (after %d frames)", pos, frames)
		}
		if pos+n > end {
			return fmt.Errorf("MP3 truncated: frame %d at byte %d needs %d bytes, %d left", frames, pos, n, end-pos)
		}
		pos += n
		frames++
	}
	if frames == 0 {
		return errors.New("MP3 has no audio frames")
	}
	return nil
}

// panickedIn reports whether the innermost frame below the runtime's panic
// machinery in a debug.Stack() taken during recovery belongs to package pkg.
func panickedIn(stack []byte, pkg string) bool {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			for _, f := range lines[i+1:] {
				if strings.HasPrefix(f, "\t") || strings.HasPrefix(f, "runtime.") {
					continue // file:line lines and runtime frames (bounds checks)
				}
				return strings.HasPrefix(f, pkg+"/") || strings.HasPrefix(f, pkg+".")
			}
		}
	}
	return false
}
