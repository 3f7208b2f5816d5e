package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rawFile assembles a safetensors file from a header string and data bytes,
// with no validation, so tests can build broken files.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func writeTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "model.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteOpenRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	values := []float32{0, -1, 1.5, 3.14159, 1e-6, -65504, 1e30, float32(math.Inf(-1))}
	tensors := []Tensor{
		{Name: "b.f32", DType: "F32", Shape: []int{2, 4}, Data: values},
		{Name: "a.bf16", DType: "BF16", Shape: []int{8}, Data: values},
		{Name: "c.f16", DType: "F16", Shape: []int{4, 2}, Data: values},
		{Name: "empty", DType: "F32", Shape: []int{0, 3}, Data: nil},
		{Name: "scalar", DType: "F32", Shape: nil, Data: []float32{7}},
	}
	meta := map[string]string{"format": "pt", "note": "ünïcode"}
	if err := Write(p, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	if got, want := f.Names(), []string{"b.f32", "a.bf16", "c.f16", "empty", "scalar"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v (data order)", got, want)
	}
	if got := f.Metadata(); len(got) != 2 || got["format"] != "pt" || got["note"] != "ünïcode" {
		t.Errorf("Metadata() = %v, want %v", got, meta)
	}
	for _, tt := range tensors {
		dtype, shape, ok := f.Info(tt.Name)
		if !ok || dtype != tt.DType || !slices.Equal(shape, tt.Shape) {
			t.Errorf("Info(%q) = %s %v %v, want %s %v", tt.Name, dtype, shape, ok, tt.DType, tt.Shape)
		}
		got, err := f.Float32(tt.Name)
		if err != nil {
			t.Fatalf("Float32(%q): %v", tt.Name, err)
		}
		want := make([]float32, len(tt.Data))
		for i, v := range tt.Data {
			switch tt.DType {
			case "F32":
				want[i] = v
			case "BF16":
				want[i] = BF16ToFloat32(Float32ToBF16(v))
			case "F16":
				want[i] = F16ToFloat32(Float32ToF16(v))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Float32(%q) = %v, want %v", tt.Name, got, want)
		}
	}
	if _, _, ok := f.Info("nope"); ok {
		t.Error(`Info("nope") ok`)
	}
	if _, err := f.Float32("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `tensor "nope"`) {
		t.Errorf(`Float32("nope") error = %v`, err)
	}
	// Converting the F16 tensor back reproduces the same bits.
	if got, _ := f.Float32("c.f16"); F16ToFloat32(Float32ToF16(got[5])) != got[5] {
		t.Errorf("f16 value %v does not round-trip", got[5])
	}
}

func TestWriteIsDeterministicAndAligned(t *testing.T) {
	dir := t.TempDir()
	ts := []Tensor{{Name: "w", DType: "F32", Shape: []int{3}, Data: []float32{1, 2, 3}}}
	var files [2][]byte
	for i := range files {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := Write(p, ts, map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = b
	}
	if !slices.Equal(files[0], files[1]) {
		t.Error("two writes of the same tensors differ")
	}
	if n := binary.LittleEndian.Uint64(files[0]); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (temp files left behind?)", len(entries))
	}
}

func TestLargeTensorReadsInChunks(t *testing.T) {
	n := readChunk/4*2 + 17 // spans three chunks, the last one partial
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(i) * 0.5
	}
	p := filepath.Join(t.TempDir(), "big.safetensors")
	if err := Write(p, []Tensor{{Name: "big", DType: "F32", Shape: []int{n}, Data: data}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.Float32("big")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, data) {
		t.Error("large tensor differs after round trip")
	}
}

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := Write(p, []Tensor{{Name: "w", DType: "BF16", Shape: []int{2}, Data: []float32{1, 2}}}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2 { // the second call hits the cache
		got, err := f.SHA256()
		if err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("SHA256() = %s, %v; want %x", got, err, sum)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"too short", []byte{1, 2, 3}, "file is 3 bytes, too short"},
		{"absurd header", binary.LittleEndian.AppendUint64(nil, 1<<62), "header size 4611686018427387904 is absurd"},
		{"absurd header u64 max", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "is absurd"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 100), "header size 100 past end of file"},
		{"invalid json", rawFile(`{"a":`, nil), "invalid header JSON"},
		{"not an object", rawFile(`[1,2]`, nil), "invalid header JSON"},
		{"null header", rawFile(`null`, nil), "invalid header JSON: not an object"},
		{"trailing data", rawFile(`{} {}`, nil), "trailing data"},
		{"entry not object", rawFile(`{"w":3}`, nil), `tensor "w": invalid header entry`},
		{"no dtype", rawFile(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, f32(1)), `tensor "w": header entry has no dtype`},
		{"no shape", rawFile(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, f32(1)), "has no shape"},
		{"no offsets", rawFile(`{"w":{"dtype":"F32","shape":[1]}}`, f32(1)), "has no data_offsets"},
		{"unknown dtype", rawFile(`{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, f32(1)), `unknown dtype "F33"`},
		{"three offsets", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, f32(2)), "data_offsets must be [begin, end]"},
		{"negative offset", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, f32(1)), "not ordered non-negative"},
		{"reversed offsets", rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, f32(1)), "not ordered non-negative"},
		{"past end", rawFile(`{"layers.0.attention.wq.weight":{"dtype":"F32","shape":[25],"data_offsets":[0,100]}}`, f32(16)),
			`tensor "layers.0.attention.wq.weight": data_offsets [0 100] past end of file (64 bytes of data)`},
		{"size mismatch", rawFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, f32(1)), "hold 4 bytes, but F32[2] needs 8"},
		{"negative dim", rawFile(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32(1)), "negative dimension"},
		{"huge shape", rawFile(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, f32(1)), "larger than the file"},
		{"float dim", rawFile(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, f32(1)), "invalid header entry"},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3)),
			`tensor "b": data_offsets [4 12] overlap tensor "a"`},
		{"metadata not strings", rawFile(`{"__metadata__":{"n":1}}`, nil), "__metadata__ must map strings to strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeTemp(t, tt.file)
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatalf("Open succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "read "+p+": ") {
				t.Errorf("Open error = %q, want it to name the file and contain %q", err, tt.want)
			}
		})
	}
}

func TestOpenReader(t *testing.T) {
	b := rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, binary.LittleEndian.AppendUint32(nil, math.Float32bits(-3)))
	f, err := OpenReader("mem", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.Float32("w"); err != nil || !slices.Equal(got, []float32{-3}) {
		t.Errorf(`Float32("w") = %v, %v`, got, err)
	}
	if err := f.Close(); err != nil {
		t.Error(err)
	}
	// A reader shorter than the size it claims: the read fails cleanly.
	f, err = OpenReader("short", bytes.NewReader(b[:len(b)-2]), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Float32("w"); !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `read short: tensor "w"`) {
		t.Errorf("Float32 on a short reader: %v", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent.safetensors")
	if _, err := Open(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(absent) error = %v, want ErrNotExist", err)
	}
}

func TestOpenAcceptsValidOddities(t *testing.T) {
	// Holes between tensors, a null __metadata__, padding spaces and
	// trailing bytes after the last tensor are all legal.
	header := `{"__metadata__":null,"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}   `
	data := make([]byte, 20)
	binary.LittleEndian.PutUint32(data, math.Float32bits(2.5))
	f, err := Open(writeTemp(t, rawFile(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Names() = %v", got)
	}
	if got, err := f.Float32("a"); err != nil || !slices.Equal(got, []float32{2.5}) {
		t.Errorf(`Float32("a") = %v, %v`, got, err)
	}
	if _, err := f.Float32("b"); err == nil || !strings.Contains(err.Error(), `tensor "b": dtype I64 cannot be converted to float32`) {
		t.Errorf(`Float32("b") error = %v`, err)
	}
	if len(f.Metadata()) != 0 {
		t.Errorf("Metadata() = %v, want empty", f.Metadata())
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.safetensors")
	tests := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"repeated name", []Tensor{{Name: "a", DType: "F32", Shape: []int{1}, Data: []float32{1}}, {Name: "a", DType: "F32", Shape: []int{1}, Data: []float32{1}}}, `tensor "a": name empty, reserved or repeated`},
		{"reserved name", []Tensor{{Name: "__metadata__", DType: "F32", Shape: []int{1}, Data: []float32{1}}}, "reserved"},
		{"bad dtype", []Tensor{{Name: "a", DType: "I64", Shape: []int{1}, Data: []float32{1}}}, `cannot write dtype "I64"`},
		{"shape mismatch", []Tensor{{Name: "a", DType: "F32", Shape: []int{2, 2}, Data: []float32{1}}}, "shape [2 2] holds 4 values, data has 1"},
		{"negative dim", []Tensor{{Name: "a", DType: "F32", Shape: []int{-1}, Data: nil}}, "negative dimension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(p, tt.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "write "+p) {
				t.Errorf("Write error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %d files behind", len(entries))
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir"), nil, nil); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

func TestF16AllValuesRoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		f := F16ToFloat32(uint16(h))
		back := Float32ToF16(f)
		if f != f { // NaN: must stay NaN with the same sign
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("NaN %#04x -> %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("f16 %#04x -> %g -> %#04x", h, f, back)
		}
	}
}

func TestF16Values(t *testing.T) {
	tests := []struct {
		h uint16
		f float32
	}{
		{0x0000, 0},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},
		{0x0400, 0x1p-14},   // smallest normal
		{0x0001, 0x1p-24},   // smallest subnormal
		{0x03ff, 0x3ffp-24}, // largest subnormal
		{0x8001, -0x1p-24},  // negative subnormal
		{0x7c00, float32(math.Inf(1))},
		{0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		if got := F16ToFloat32(tt.h); got != tt.f {
			t.Errorf("F16ToFloat32(%#04x) = %g, want %g", tt.h, got, tt.f)
		}
		if got := Float32ToF16(tt.f); got != tt.h {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.h)
		}
	}
	if f := F16ToFloat32(0x7e00); f == f {
		t.Errorf("F16ToFloat32(0x7e00) = %g, want NaN", f)
	}
	if neg0 := F16ToFloat32(0x8000); neg0 != 0 || !math.Signbit(float64(neg0)) {
		t.Errorf("F16ToFloat32(0x8000) = %g, want -0", neg0)
	}
	// Rounding: ties to even, overflow to Inf, underflow to 0.
	rounding := []struct {
		f float32
		h uint16
	}{
		{1 + 0x1p-11, 0x3c00},   // tie between 1 and 1+2^-10: even is 1
		{1 + 3*0x1p-11, 0x3c02}, // tie: even is 1+2^-9
		{1 + 0x1p-11 + 0x1p-20, 0x3c01},
		{65520, 0x7c00}, // halfway to 2^16 rounds to Inf
		{65519, 0x7bff},
		{1e10, 0x7c00},
		{0x1p-25, 0x0000}, // tie between 0 and 2^-24: even is 0
		{0x1.8p-25, 0x0001},
		{0x3p-25, 0x0002}, // tie between 1 and 2 ulps: even is 2
		{0x1p-30, 0x0000},
		{0x1.ffcp-15, 0x0400}, // rounds up from subnormal into the smallest normal
	}
	for _, tt := range rounding {
		if got := Float32ToF16(tt.f); got != tt.h {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", tt.f, got, tt.h)
		}
	}
	if h := Float32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("Float32ToF16(NaN) = %#04x, want a NaN", h)
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{1, 0x3f80},
		{-2, 0xc000},
		{1 + 0x1p-8, 0x3f80},   // tie: even is 1
		{1 + 3*0x1p-8, 0x3f82}, // tie: even is 1+2^-6
		{1 + 0x1p-8 + 0x1p-20, 0x3f81},
		{math.MaxFloat32, 0x7f80}, // rounds past the bf16 range
		{float32(math.Inf(-1)), 0xff80},
		{0x1p-133, 0x0001}, // subnormals are kept
	}
	for _, tt := range tests {
		if got := Float32ToBF16(tt.f); got != tt.h {
			t.Errorf("Float32ToBF16(%g) = %#04x, want %#04x", tt.f, got, tt.h)
		}
	}
	for h := range 1 << 16 {
		f := BF16ToFloat32(uint16(h))
		if f == f && Float32ToBF16(f) != uint16(h) {
			t.Fatalf("bf16 %#04x does not round-trip", h)
		}
	}
	// A NaN whose payload lives only in the low 16 bits must not become Inf.
	nan := math.Float32frombits(0x7f800001)
	if f := BF16ToFloat32(Float32ToBF16(nan)); f == f {
		t.Errorf("bf16(NaN) = %g, want NaN", f)
	}
}

func TestDTypeSize(t *testing.T) {
	for dtype, want := range map[string]int{"F32": 4, "BF16": 2, "F16": 2, "I64": 8, "U8": 1, "BOOL": 1} {
		if got, ok := DTypeSize(dtype); !ok || got != want {
			t.Errorf("DTypeSize(%s) = %d, %v; want %d", dtype, got, ok, want)
		}
	}
	if _, ok := DTypeSize("f32"); ok {
		t.Error("DTypeSize is case-insensitive; dtypes are upper case")
	}
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	valid := filepath.Join(dir, "seed.safetensors")
	err := Write(valid, []Tensor{
		{Name: "a", DType: "F32", Shape: []int{2, 2}, Data: []float32{1, 2, 3, 4}},
		{Name: "b", DType: "BF16", Shape: []int{3}, Data: []float32{1, -1, 0.5}},
		{Name: "c", DType: "F16", Shape: []int{1}, Data: []float32{7}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(valid)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add(rawFile(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(rawFile(`{"w":{"dtype":"I8","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<62))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := OpenReader("fuzz.safetensors", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		defer sf.Close()
		for _, name := range sf.Names() {
			dtype, shape, ok := sf.Info(name)
			if !ok {
				t.Fatalf("Names lists %q but Info does not know it", name)
			}
			vals, err := sf.Float32(name)
			if err != nil {
				if dtype == "F32" || dtype == "BF16" || dtype == "F16" {
					t.Fatalf("Float32(%q) after a valid Open: %v", name, err)
				}
				continue
			}
			n := 1
			for _, d := range shape {
				n *= d
			}
			if len(vals) != n {
				t.Fatalf("Float32(%q) returned %d values for shape %v", name, len(vals), shape)
			}
		}
		sf.Metadata()
		if _, err := sf.SHA256(); err != nil {
			t.Fatal(err)
		}
	})
}
