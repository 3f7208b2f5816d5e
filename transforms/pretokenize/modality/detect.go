package modality

import (
	"bytes"
	"encoding/binary"
	"path"
	"strings"
	"unicode/utf8"
)

// Modalities: Format.Modality says which extractor reads a format;
// View.Modality says what a view's bytes are (ModText, ModCode, ModImage,
// ModAudio, ModVideo, ModExecutable or ModBytes).
const (
	ModText       = "text"       // UTF-8 prose
	ModCode       = "code"       // UTF-8 source code
	ModImage      = "image"      // RGB pixels, patch-major
	ModAudio      = "audio"      // 16-bit little-endian PCM, interleaved
	ModVideo      = "video"      // video frames (RGB, frame-major)
	ModDocument   = "document"   // PDF (a format modality; views are text, bytes, image)
	ModExecutable = "executable" // ELF, PE, Mach-O, ar
	ModArchive    = "archive"    // a container of members (no view of its own)
	ModBytes      = "bytes"      // anything else
)

// Format is what Detect found.
type Format struct {
	Kind     string // "png", "elf", "zip", "text", "utf16", "go", "binary", …
	Modality string // one of the Mod constants
	By       string // "magic", "extension" or "sniff"
}

type magic struct {
	kind, mod string
	match     func(b []byte) bool
}

func prefix(p string) func([]byte) bool {
	return func(b []byte) bool { return bytes.HasPrefix(b, []byte(p)) }
}

// magics are tried in order; the first match wins.
var magics = []magic{
	{"png", ModImage, prefix("\x89PNG\r\n\x1a\n")},
	{"jpeg", ModImage, prefix("\xff\xd8\xff")},
	{"gif", ModImage, func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a"))
	}},
	{"bmp", ModImage, isBMP},
	{"tiff", ModImage, func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("II*\x00")) || bytes.HasPrefix(b, []byte("MM\x00*"))
	}},
	{"webp", ModImage, riff("WEBP")},
	{"pdf", ModDocument, func(b []byte) bool {
		// Readers accept the header anywhere in the first 1024 bytes.
		return bytes.Contains(b[:min(len(b), 1024)], []byte("%PDF-"))
	}},
	{"wav", ModAudio, riff("WAVE")},
	{"flac", ModAudio, prefix("fLaC")},
	{"ogg", ModAudio, prefix("OggS")},
	{"mp4", ModVideo, isMP4},
	{"mkv", ModVideo, prefix("\x1a\x45\xdf\xa3")},
	{"elf", ModExecutable, prefix("\x7fELF")},
	{"pe", ModExecutable, isPE},
	{"macho", ModExecutable, isMachO},
	{"macho-fat", ModExecutable, isFat},
	{"ar", ModExecutable, prefix("!<arch>\n")},
	{"zip", ModArchive, func(b []byte) bool {
		return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06")) ||
			bytes.HasPrefix(b, []byte("PK\x07\x08"))
	}},
	{"gzip", ModArchive, prefix("\x1f\x8b")},
	{"bzip2", ModArchive, func(b []byte) bool {
		return len(b) >= 4 && bytes.HasPrefix(b, []byte("BZh")) && b[3] >= '1' && b[3] <= '9'
	}},
	{"xz", ModArchive, prefix("\xfd7zXZ\x00")},
	{"zstd", ModArchive, prefix("\x28\xb5\x2f\xfd")},
	{"tar", ModArchive, isTar},
	// MP3 by ID3 tag or frame sync last: the sync pattern is short.
	{"mp3", ModAudio, isMP3},
}

func riff(form string) func([]byte) bool {
	return func(b []byte) bool {
		return len(b) >= 12 && (string(b[:4]) == "RIFF" || string(b[:4]) == "RF64") && string(b[8:12]) == form
	}
}

func isBMP(b []byte) bool {
	if len(b) < 18 || string(b[:2]) != "BM" {
		return false
	}
	switch binary.LittleEndian.Uint32(b[14:]) { // DIB header size
	case 12, 16, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

func isMP4(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	switch string(b[4:8]) {
	case "ftyp", "moov", "mdat", "wide", "free", "skip":
		return true
	}
	return false
}

func isPE(b []byte) bool {
	if len(b) < 64 || string(b[:2]) != "MZ" {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(b[0x3c:]))
	return off+4 <= int64(len(b)) && string(b[off:off+4]) == "PE\x00\x00"
}

func isMachO(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return true
	}
	return false
}

// isFat tells a universal Mach-O from a Java class file (same magic): a fat
// header counts a few architectures, a class file has a major version ≥ 45.
func isFat(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	m := binary.BigEndian.Uint32(b)
	n := binary.BigEndian.Uint32(b[4:])
	return (m == 0xcafebabe || m == 0xcafebabf) && n > 0 && n < 45
}

// isTar accepts a POSIX/GNU "ustar" header or a v7 header whose checksum
// is right.
func isTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if bytes.HasPrefix(b[257:], []byte("ustar")) {
		return true
	}
	h := b[:512]
	field := bytes.TrimRight(bytes.TrimLeft(h[148:156], " \x00"), " \x00")
	if len(field) == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want && h[0] != 0
}

// MPEG audio bitrates (kbit/s) by [version is MPEG1][layer-1][index] and
// sample rates by [version][index]; enough to find the next frame.
var (
	mpegBitrates = [2][3][16]int{
		{ // MPEG2/2.5
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		},
		{ // MPEG1
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		},
	}
	mpegRates = [4][3]int{{11025, 12000, 8000}, {0, 0, 0}, {22050, 24000, 16000}, {44100, 48000, 32000}}
)

// mpegFrameLen returns the length of the MPEG audio frame whose header
// starts b, or 0 if b does not start with a valid header.
func mpegFrameLen(b []byte) int {
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return 0
	}
	ver := (b[1] >> 3) & 3   // 0: 2.5, 1: reserved, 2: 2, 3: 1
	layer := (b[1] >> 1) & 3 // 1: III, 2: II, 3: I
	bri := int(b[2] >> 4)    // bitrate index
	sri := int(b[2]>>2) & 3  // sample rate index
	pad := int(b[2]>>1) & 1  //
	if ver == 1 || layer == 0 || bri == 0 || bri == 15 || sri == 3 {
		return 0
	}
	v1 := 0
	if ver == 3 {
		v1 = 1
	}
	l := 3 - int(layer) // 0: I, 1: II, 2: III
	br := mpegBitrates[v1][l][bri] * 1000
	sr := mpegRates[ver][sri]
	switch {
	case l == 0:
		return (12*br/sr + pad) * 4
	case l == 2 && v1 == 0:
		return 72*br/sr + pad
	default:
		return 144*br/sr + pad
	}
}

// isMP3 accepts an ID3v2 tag or an MPEG audio frame header followed by
// another one (or the end of the data).
func isMP3(b []byte) bool {
	if bytes.HasPrefix(b, []byte("ID3")) && len(b) >= 10 && b[3] < 5 {
		return true
	}
	n := mpegFrameLen(b)
	if n < 4 {
		return false
	}
	if len(b) <= n+4 {
		return len(b) >= n
	}
	return mpegFrameLen(b[n:]) > 0
}

// Extensions name a format when no magic matched: formats with no magic
// (text, code) and damaged files of known formats (which then get a reject
// reason from their decoder instead of being read as bytes).
var extensions = map[string]Format{
	".txt": {"text", ModText, ""}, ".md": {"text", ModText, ""}, ".rst": {"text", ModText, ""},
	".csv": {"text", ModText, ""}, ".tsv": {"text", ModText, ""}, ".json": {"text", ModText, ""},
	".jsonl": {"text", ModText, ""}, ".xml": {"text", ModText, ""}, ".html": {"text", ModText, ""},
	".htm": {"text", ModText, ""}, ".yaml": {"text", ModText, ""}, ".yml": {"text", ModText, ""},
	".toml": {"text", ModText, ""}, ".ini": {"text", ModText, ""}, ".log": {"text", ModText, ""},

	".go": {"go", ModCode, ""}, ".py": {"python", ModCode, ""}, ".pyi": {"python", ModCode, ""},
	".js": {"javascript", ModCode, ""}, ".mjs": {"javascript", ModCode, ""}, ".cjs": {"javascript", ModCode, ""},
	".jsx": {"javascript", ModCode, ""}, ".ts": {"typescript", ModCode, ""}, ".tsx": {"typescript", ModCode, ""},
	".c": {"c", ModCode, ""}, ".h": {"c", ModCode, ""}, ".cc": {"cpp", ModCode, ""}, ".cpp": {"cpp", ModCode, ""},
	".cxx": {"cpp", ModCode, ""}, ".hpp": {"cpp", ModCode, ""}, ".hh": {"cpp", ModCode, ""},
	".java": {"java", ModCode, ""}, ".rs": {"rust", ModCode, ""},
	".sh": {"shell", ModCode, ""}, ".bash": {"shell", ModCode, ""}, ".zsh": {"shell", ModCode, ""},

	".png": {"png", ModImage, ""}, ".jpg": {"jpeg", ModImage, ""}, ".jpeg": {"jpeg", ModImage, ""},
	".gif": {"gif", ModImage, ""}, ".bmp": {"bmp", ModImage, ""}, ".tif": {"tiff", ModImage, ""},
	".tiff": {"tiff", ModImage, ""}, ".webp": {"webp", ModImage, ""},
	".pdf": {"pdf", ModDocument, ""},
	".wav": {"wav", ModAudio, ""}, ".mp3": {"mp3", ModAudio, ""}, ".flac": {"flac", ModAudio, ""},
	".ogg": {"ogg", ModAudio, ""}, ".oga": {"ogg", ModAudio, ""}, ".opus": {"ogg", ModAudio, ""},
	".mp4": {"mp4", ModVideo, ""}, ".m4v": {"mp4", ModVideo, ""}, ".mov": {"mp4", ModVideo, ""},
	".mkv": {"mkv", ModVideo, ""}, ".webm": {"mkv", ModVideo, ""},
	".so": {"elf", ModExecutable, ""}, ".o": {"elf", ModExecutable, ""}, ".exe": {"pe", ModExecutable, ""},
	".dll": {"pe", ModExecutable, ""}, ".dylib": {"macho", ModExecutable, ""}, ".a": {"ar", ModExecutable, ""},
	".zip": {"zip", ModArchive, ""}, ".jar": {"zip", ModArchive, ""}, ".tar": {"tar", ModArchive, ""},
	".gz": {"gzip", ModArchive, ""}, ".tgz": {"gzip", ModArchive, ""}, ".bz2": {"bzip2", ModArchive, ""},
	".xz": {"xz", ModArchive, ""}, ".zst": {"zstd", ModArchive, ""},
}

// Detect names the format of data: magic bytes first, then the extension of
// name, then content sniffing (UTF-16 with a BOM, valid UTF-8 without NULs
// or stray control bytes is text or code, anything else is "binary"). It
// looks at the content only as far as needed and never fails.
func Detect(name string, data []byte) Format {
	for _, m := range magics {
		if m.match(data) {
			return Format{m.kind, m.mod, "magic"}
		}
	}
	ext := strings.ToLower(path.Ext(name))
	if f, ok := extensions[ext]; ok {
		f.By = "extension"
		// A text extension on bytes that are not text is not believed.
		if (f.Modality != ModText && f.Modality != ModCode) || sniffText(data) != "" {
			return f
		}
	}
	switch sniffText(data) {
	case "utf16":
		return Format{"utf16", ModText, "sniff"}
	case "utf8":
		if lang := sniffLanguage(data); lang != "" {
			return Format{lang, ModCode, "sniff"}
		}
		return Format{"text", ModText, "sniff"}
	}
	return Format{"binary", ModBytes, "sniff"}
}

// sniffText returns "utf16" for UTF-16 with a BOM and an even length,
// "utf8" for valid UTF-8 (BOM allowed) without NUL bytes and with at most
// 1% control bytes other than tab, newline, carriage return and form feed,
// "" otherwise.
func sniffText(b []byte) string {
	if len(b) >= 2 && len(b)%2 == 0 && (b[0] == 0xff && b[1] == 0xfe || b[0] == 0xfe && b[1] == 0xff) {
		return "utf16"
	}
	if !utf8.Valid(b) {
		return ""
	}
	ctl := 0
	for _, c := range b {
		switch {
		case c == 0:
			return ""
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f', c == 0x7f:
			ctl++
		}
	}
	if ctl*100 > len(b) {
		return ""
	}
	return "utf8"
}
