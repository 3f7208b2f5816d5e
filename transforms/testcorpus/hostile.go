package testcorpus

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// HostileLimits are the limits the hostile corpus is built against (pass
// them to the pipeline): small, so the cases stay small.
type HostileLimits struct {
	MaxDocBytes, MaxLineBytes, MaxRowBytes, MaxFileBytes int64
	MaxDepth                                             int
	MaxPixels                                            int64
	MaxAudioSeconds                                      float64
}

// DefaultHostileLimits are the limits Hostile's expectations assume.
var DefaultHostileLimits = HostileLimits{
	MaxDocBytes: 8 << 10, MaxLineBytes: 4 << 10, MaxRowBytes: 16 << 10, MaxFileBytes: 64 << 10,
	MaxDepth: 3, MaxPixels: 1024, MaxAudioSeconds: 0.5,
}

// HostileCase is one expected reject: a row of rejects/ whose source ends
// with Source, with this stage and error class, and whose message, head or
// doc_id contains Match.
type HostileCase struct {
	Name   string
	Source string // path relative to the corpus root
	Stage  string
	Class  string
	Match  string
}

// HostileCorpus is what Hostile wrote.
type HostileCorpus struct {
	Clean   string // the good inputs only
	Hostile string // the same good inputs plus every bad one
	Cases   []HostileCase
	// ExtraDocs is the number of good documents only the hostile corpus
	// has under archives/ (members kept from archives that also hold a bad
	// member); the lines of truncated.jsonl.gz before the cut (ids "gz-NN")
	// are good documents only it has, too.
	ExtraDocs int
	// Outside is a file outside both roots that a link points at; nothing
	// may read it.
	Outside string
}

// Hostile writes under dir a clean corpus and a hostile one: the clean
// files (JSONL with ids, Parquet, text, a long text cut into windows, an
// image) in both, and in the hostile one the bad lines, rows and files of
// every case, each expected to yield exactly one reject. Good records
// carry explicit ids so they keep their doc_id across the two corpora.
func Hostile(dir string, l HostileLimits) (HostileCorpus, error) {
	hc := HostileCorpus{Clean: filepath.Join(dir, "clean"), Hostile: filepath.Join(dir, "hostile"), Outside: filepath.Join(dir, "outside-secret.txt")}
	var err error
	both := func(name string, b []byte) {
		for _, root := range []string{hc.Clean, hc.Hostile} {
			if err == nil {
				err = put(root, name, b)
			}
		}
	}
	bad := func(name string, b []byte) {
		if err == nil {
			err = put(hc.Hostile, name, b)
		}
	}
	expect := func(name, source, stage, class, match string) {
		hc.Cases = append(hc.Cases, HostileCase{Name: name, Source: source, Stage: stage, Class: class, Match: match})
	}
	if err := os.WriteFile(hc.Outside, []byte("secret outside the input root\n"), 0o644); err != nil {
		return hc, err
	}

	// JSONL: good lines with ids, bad lines between them in the hostile copy.
	var clean, hostile bytes.Buffer
	badLines := []struct{ name, line, class, match string }{
		{"not JSON", `this is not json`, "bad_json", "not a JSON object"},
		{"JSON array", `[1,2,3]`, "bad_json", "not a JSON object"},
		{"JSON null", `null`, "bad_json", "null"},
		{"truncated JSON", `{"sample_id":"trunc","text":"never closed`, "bad_json", "not a JSON object"},
		{"no text field", `{"sample_id":"notext","body":"x"}`, "no_text", "no text field"},
		{"text not a string", `{"sample_id":"numtext","text":42}`, "no_text", "not a string"},
		{"line over --max-line-bytes", `{"sample_id":"long","text":"` + strings.Repeat("y", int(l.MaxLineBytes)) + `"}`, "line_too_long", "max-line-bytes"},
	}
	for i := 0; i < 12; i++ {
		id := fmt.Sprintf("good-%02d", i)
		if i == 5 {
			id = "../../escape/" + id // an id that looks like a path stays an id
		}
		line, _ := json.Marshal(JSONLRecord{SampleID: id, Text: Text(uint64(100+i), 200+17*i), Lang: "en"})
		clean.Write(append(line, '\n'))
		hostile.Write(append(line, '\n'))
		if i < len(badLines) {
			hostile.WriteString(badLines[i].line + "\n")
			expect(badLines[i].name, "mixed.jsonl", "read", badLines[i].class, badLines[i].match)
		}
	}
	if err == nil {
		err = put(hc.Clean, "mixed.jsonl", clean.Bytes())
	}
	bad("mixed.jsonl", hostile.Bytes())

	// A gzip JSONL cut short: its good lines before the cut stay.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := 0; i < 40; i++ {
		line, _ := json.Marshal(JSONLRecord{SampleID: fmt.Sprintf("gz-%02d", i), Text: Text(uint64(300+i), 400)})
		zw.Write(append(line, '\n'))
	}
	zw.Close()
	bad("truncated.jsonl.gz", gz.Bytes()[:gz.Len()*2/3])
	expect("truncated gzip JSONL", "truncated.jsonl.gz", "read", "corrupt", "rest of split unreadable")
	bad("garbage.jsonl.zst", []byte("not zstd at all, just text pretending"))
	expect("not zstd", "garbage.jsonl.zst", "read", "corrupt", "magic number")

	// Parquet: a good file in both; bad ones in the hostile copy.
	rows := Rows(7, 12, 80)
	for i := range rows {
		rows[i].URL = fmt.Sprintf("https://example.org/good/%d", i)
	}
	for _, root := range []string{hc.Clean, hc.Hostile} {
		if err == nil {
			err = WriteParquet(filepath.Join(root, "web.parquet"), rows, 4)
		}
	}
	bad("garbage.parquet", []byte("PAR1 this is not a parquet file PAR1"))
	expect("not Parquet", "garbage.parquet", "read", "corrupt", "parquet")
	if err == nil {
		err = writeTextParquet(filepath.Join(hc.Hostile, "notext.parquet"), "body", []*string{ptr("a"), ptr("b")})
	}
	expect("Parquet without a text column", "notext.parquet", "read", "no_text", "no text column")
	if err == nil {
		err = writeTextParquet(filepath.Join(hc.Hostile, "nulltext.parquet"), "text", []*string{nil})
	}
	expect("Parquet null text", "nulltext.parquet", "read", "no_text", "null")
	if err == nil {
		err = writeTextParquet(filepath.Join(hc.Hostile, "bigrow.parquet"), "text", []*string{ptr(strings.Repeat("z", int(l.MaxRowBytes)+10))})
	}
	expect("Parquet row over --max-row-bytes", "bigrow.parquet", "read", "row_too_large", "max-row-bytes")

	// Text and binary files.
	both("notes/plain.txt", []byte("A plain text file.\n\nWith two paragraphs.\n"))
	both("notes/long.md", []byte(longText(int(l.MaxDocBytes)*5/2)))
	both("notes/empty.txt", nil)
	both("img/ok.png", pngBytes(16, 16))
	bad("big/huge.txt", bytes.Repeat([]byte("x"), int(l.MaxFileBytes)+1))
	expect("file over --max-file-bytes", "big/huge.txt", "read", "file_too_large", "max-file-bytes")
	bad("big/blob.bin", randomBytes(9, int(l.MaxDocBytes)+100))
	expect("binary over --max-doc-bytes", "big/blob.bin", "limits", "doc_too_large", "max-doc-bytes")

	// Media and documents that do not decode, or are over a limit.
	bad("media/corrupt.png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), randomBytes(1, 300)...))
	expect("corrupt PNG", "media/corrupt.png", "pretokenize", "decode", "png")
	bad("media/huge.png", pngBytes(64, 64))
	expect("PNG over --max-image-pixels", "media/huge.png", "pretokenize", "limit", "MaxPixels")
	bad("media/truncated.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xdb"))
	expect("truncated JPEG", "media/truncated.jpg", "pretokenize", "decode", "jpeg")
	bad("media/long.wav", wav(8000, 8000))
	expect("WAV over --max-audio-seconds", "media/long.wav", "pretokenize", "limit", "MaxAudioSeconds")
	w := wav(8000, 800)
	bad("media/truncated.wav", w[:len(w)/2])
	expect("truncated WAV", "media/truncated.wav", "pretokenize", "decode", "truncated")
	bad("docs/corrupt.pdf", []byte("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer garbage"))
	expect("corrupt PDF", "docs/corrupt.pdf", "pretokenize", "decode", "pdf")

	// Archives: each holds a good member and one bad one (the good member
	// is a document only the hostile corpus has).
	good := []byte("a good member of an archive\n")
	addZip := func(name, member string, body []byte, method uint16, match, class string) {
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		f, _ := z.Create("good.txt")
		f.Write(good)
		h := &zip.FileHeader{Name: member, Method: method}
		f, _ = z.CreateHeader(h)
		f.Write(body)
		z.Close()
		bad("archives/"+name, b.Bytes())
		expect("zip: "+match, "archives/"+name, "pretokenize", class, match)
		hc.ExtraDocs++
	}
	addZip("dotdot.zip", "../../evil.txt", []byte("escape"), zip.Store, "..", "unsafe_path")
	addZip("absolute.zip", "/etc/evil.txt", []byte("absolute"), zip.Store, "absolute", "unsafe_path")
	addZip("bomb.zip", "zeros.bin", make([]byte, 4<<20), zip.Deflate, "MaxRatio", "limit")
	addTar := func(name string, hdr *tar.Header, match, class string) {
		var b bytes.Buffer
		t := tar.NewWriter(&b)
		t.WriteHeader(&tar.Header{Name: "good.txt", Mode: 0o644, Size: int64(len(good)), Typeflag: tar.TypeReg})
		t.Write(good)
		t.WriteHeader(hdr)
		t.Close()
		bad("archives/"+name, b.Bytes())
		expect("tar: "+match, "archives/"+name, "pretokenize", class, match)
		hc.ExtraDocs++
	}
	addTar("symlink.tar", &tar.Header{Name: "link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink, Mode: 0o777}, "link", "symlink")
	addTar("fifo.tar", &tar.Header{Name: "pipe", Typeflag: tar.TypeFifo, Mode: 0o644}, "pipe", "special_file")
	addTar("device.tar", &tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o644}, "device", "special_file")
	// Nested gzip deeper than MaxDepth: the innermost member is over the
	// limit, and the file is then left with no view at all (two rejects).
	nested := []byte("deeply nested text\n")
	for i := 0; i <= l.MaxDepth; i++ {
		nested = gzipBytes(nested)
	}
	bad("archives/nested.gz", nested)
	expect("gzip nested deeper than --max-archive-depth", "archives/nested.gz", "pretokenize", "limit", "archive member")
	expect("archive with no view left", "archives/nested.gz", "pretokenize", "limit", "no readable view")
	bad("archives/corrupt.zip", append([]byte("PK\x03\x04"), randomBytes(3, 200)...))
	expect("corrupt zip", "archives/corrupt.zip", "pretokenize", "decode", "zip")
	bad("archives/corrupt.gz", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, randomBytes(4, 200)...))
	expect("corrupt gzip", "archives/corrupt.gz", "pretokenize", "decode", "gzip")

	// The file system: a link out of the root, a FIFO, a name with a
	// control character.
	if err == nil {
		err = os.Symlink(hc.Outside, filepath.Join(hc.Hostile, "notes", "escape-link.txt"))
	}
	expect("symlink leaving the input root", "notes/escape-link.txt", "read", "symlink", "outside the input root")
	if err == nil {
		err = syscall.Mkfifo(filepath.Join(hc.Hostile, "notes", "pipe.txt"), 0o644)
	}
	expect("FIFO", "notes/pipe.txt", "read", "special_file", "FIFO")
	bad("notes/bell\x07name.txt", []byte("a file whose name rings a bell\n"))
	expect("control character in a file name", "notes/bell\\aname.txt", "read", "unsafe_path", "control characters")
	return hc, err
}

func put(root, name string, b []byte) error {
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func ptr(s string) *string { return &s }

// writeTextParquet writes one string column named col, nulls for nil.
func writeTextParquet(path, col string, vals []*string) error {
	sc := arrow.NewSchema([]arrow.Field{{Name: col, Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.StringBuilder).Append(*v)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		return err
	}
	return w.Close()
}

// longText is n bytes of paragraphs (blank-line separated).
func longText(n int) string {
	var b strings.Builder
	for i := uint64(0); b.Len() < n; i++ {
		b.WriteString(Text(i+500, 300))
		b.WriteString("\n\n")
	}
	return b.String()[:n]
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0xbad))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func pngBytes(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// wav is a mono 16-bit PCM WAV of n samples at rate Hz.
func wav(rate, n int) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, le, uint32(16))
	binary.Write(&b, le, uint16(1))
	binary.Write(&b, le, uint16(1))
	binary.Write(&b, le, uint32(rate))
	binary.Write(&b, le, uint32(2*rate))
	binary.Write(&b, le, uint16(2))
	binary.Write(&b, le, uint16(16))
	b.WriteString("data")
	binary.Write(&b, le, uint32(2*n))
	for i := 0; i < n; i++ {
		binary.Write(&b, le, int16((i*37)%2000-1000))
	}
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	z := gzip.NewWriter(&out)
	z.Write(b)
	z.Close()
	return out.Bytes()
}
