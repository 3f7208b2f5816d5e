// Package safetensors reads and writes the safetensors tensor format:
// an 8-byte little-endian header length N, N bytes of JSON describing each
// tensor (dtype, shape, data_offsets relative to the data buffer) plus an
// optional "__metadata__" map of strings, then the data buffer.
//
// It owns the byte format only; it knows nothing about which tensors a model
// needs (that is modelio's job). Open validates the whole header before
// returning, so a *File never describes data that is not in the file, and no
// input makes it panic. Tensor data is read lazily with ReadAt, chunk by
// chunk, straight into the float32 result.
package safetensors

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
)

// MaxHeaderSize bounds the JSON header. Real headers are kilobytes; a larger
// length field means the file is not safetensors or is corrupt.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header entry holding free-form string metadata.
const metadataKey = "__metadata__"

// File is an open safetensors file. Its methods are safe for concurrent use;
// Close must be called once no method is running.
type File struct {
	path      string
	r         io.ReaderAt
	closer    io.Closer // nil for OpenReader
	dataStart int64     // offset of the data buffer in the file: 8 + header size
	dataSize  int64     // bytes from dataStart to the end of the file

	entries  map[string]entry
	order    []string // names by data offset, then name
	metadata map[string]string

	shaOnce sync.Once
	sha     string
	shaErr  error
}

type entry struct {
	dtype      string
	shape      []int
	begin, end int64 // relative to the data buffer
}

// headerEntry is one tensor's JSON description. Pointers tell a missing key
// from a zero value.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// Open opens path and validates its header: every entry has a known dtype, a
// non-negative shape, and data_offsets [begin, end] inside the data buffer
// with end-begin = numel·dtype size; tensors do not overlap. Tensor data is
// not read.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	sf, err := OpenReader(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	sf.closer = f
	return sf, nil
}

// OpenReader is Open for data that is not a local file: r holds size bytes
// of safetensors, and path names them in errors. Close does not close r.
func OpenReader(path string, r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("read %s: file is %d bytes, too short for a safetensors header", path, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("read %s: header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("read %s: header size %d is absurd (limit %d bytes); not a safetensors file?", path, n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("read %s: header size %d past end of file (%d bytes after the length field); file truncated?", path, n, size-8)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("read %s: header: %w", path, err)
	}
	sf := &File{path: path, r: r, dataStart: 8 + int64(n), dataSize: size - 8 - int64(n)}
	if err := sf.parseHeader(header); err != nil {
		return nil, err
	}
	return sf, nil
}

func (sf *File) errorf(tensor, format string, args ...any) error {
	if tensor == "" {
		return fmt.Errorf("read %s: "+format, append([]any{sf.path}, args...)...)
	}
	return fmt.Errorf("read %s: tensor %q: "+format, append([]any{sf.path, tensor}, args...)...)
}

func (sf *File) parseHeader(header []byte) error {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(header))
	if err := dec.Decode(&raw); err != nil {
		return sf.errorf("", "invalid header JSON: %v", err)
	}
	if raw == nil {
		return sf.errorf("", "invalid header JSON: not an object")
	}
	if rest := bytes.TrimSpace(header[dec.InputOffset():]); len(rest) > 0 {
		return sf.errorf("", "invalid header JSON: %d bytes of trailing data", len(rest))
	}
	sf.entries = make(map[string]entry, len(raw))
	sf.metadata = map[string]string{}
	for name, msg := range raw {
		if name == metadataKey {
			if err := json.Unmarshal(msg, &sf.metadata); err != nil {
				return sf.errorf("", "__metadata__ must map strings to strings: %v", err)
			}
			if sf.metadata == nil { // "__metadata__": null
				sf.metadata = map[string]string{}
			}
			continue
		}
		e, err := sf.parseEntry(name, msg)
		if err != nil {
			return err
		}
		sf.entries[name] = e
		sf.order = append(sf.order, name)
	}
	slices.SortFunc(sf.order, func(a, b string) int {
		if c := cmp.Compare(sf.entries[a].begin, sf.entries[b].begin); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var prevEnd int64
	var prev string
	for _, name := range sf.order {
		e := sf.entries[name]
		if e.begin < prevEnd {
			return sf.errorf(name, "data_offsets [%d %d] overlap tensor %q (ends at %d)", e.begin, e.end, prev, prevEnd)
		}
		if e.end > prevEnd {
			prevEnd, prev = e.end, name
		}
	}
	return nil
}

func (sf *File) parseEntry(name string, msg json.RawMessage) (entry, error) {
	var h headerEntry
	if err := json.Unmarshal(msg, &h); err != nil {
		return entry{}, sf.errorf(name, "invalid header entry: %v", err)
	}
	switch {
	case h.DType == nil:
		return entry{}, sf.errorf(name, "header entry has no dtype")
	case h.Shape == nil:
		return entry{}, sf.errorf(name, "header entry has no shape")
	case h.DataOffsets == nil:
		return entry{}, sf.errorf(name, "header entry has no data_offsets")
	}
	elem, ok := dtypeSizes[*h.DType]
	if !ok {
		return entry{}, sf.errorf(name, "unknown dtype %q", *h.DType)
	}
	offs := *h.DataOffsets
	if len(offs) != 2 {
		return entry{}, sf.errorf(name, "data_offsets must be [begin, end], got %v", offs)
	}
	begin, end := offs[0], offs[1]
	if begin < 0 || end < begin {
		return entry{}, sf.errorf(name, "data_offsets [%d %d] are not ordered non-negative offsets", begin, end)
	}
	if end > sf.dataSize {
		return entry{}, sf.errorf(name, "data_offsets [%d %d] past end of file (%d bytes of data); file truncated?", begin, end, sf.dataSize)
	}
	shape := make([]int, len(*h.Shape))
	numel, err := sf.numel(name, *h.Shape)
	if err != nil {
		return entry{}, err
	}
	for i, d := range *h.Shape {
		shape[i] = int(d)
	}
	if numel*elem != end-begin {
		return entry{}, sf.errorf(name, "data_offsets [%d %d] hold %d bytes, but %s%v needs %d", begin, end, end-begin, *h.DType, *h.Shape, numel*elem)
	}
	return entry{dtype: *h.DType, shape: shape, begin: begin, end: end}, nil
}

// numel returns the element count of shape, refusing negative dimensions and
// counts larger than the data buffer (so numel·elem cannot overflow).
func (sf *File) numel(name string, shape []int64) (int64, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, sf.errorf(name, "shape %v has a negative dimension", shape)
		}
		if d == 0 {
			return 0, nil
		}
	}
	n := int64(1)
	for _, d := range shape {
		if d > sf.dataSize/n {
			return 0, sf.errorf(name, "shape %v is larger than the file (%d bytes of data)", shape, sf.dataSize)
		}
		n *= d
	}
	return n, nil
}

// Path returns the path the file was opened with.
func (sf *File) Path() string { return sf.path }

// Names returns the tensor names in data-buffer order (by begin offset).
func (sf *File) Names() []string { return slices.Clone(sf.order) }

// Info returns a tensor's dtype and shape (a fresh slice), or ok=false if
// the file has no such tensor.
func (sf *File) Info(name string) (dtype string, shape []int, ok bool) {
	e, ok := sf.entries[name]
	if !ok {
		return "", nil, false
	}
	return e.dtype, slices.Clone(e.shape), true
}

// Metadata returns a copy of the header's "__metadata__" map (empty if absent).
func (sf *File) Metadata() map[string]string {
	m := make(map[string]string, len(sf.metadata))
	for k, v := range sf.metadata {
		m[k] = v
	}
	return m
}

// ErrNotFound is wrapped by Float32 when the file has no tensor of that name.
var ErrNotFound = errors.New("no such tensor")

// readChunk is how many bytes Float32 reads at a time; a multiple of every
// element size.
const readChunk = 1 << 20

// Float32 reads a tensor and converts it to float32, row-major in the stored
// shape. F32 is copied, BF16 and F16 widened exactly; other dtypes are an
// error. The data is read once, in chunks, into the returned slice.
func (sf *File) Float32(name string) ([]float32, error) {
	e, ok := sf.entries[name]
	if !ok {
		return nil, sf.errorf(name, "%w", ErrNotFound)
	}
	var elem int64
	switch e.dtype {
	case "F32":
		elem = 4
	case "BF16", "F16":
		elem = 2
	default:
		return nil, sf.errorf(name, "dtype %s cannot be converted to float32 (want F32, BF16 or F16)", e.dtype)
	}
	out := make([]float32, (e.end-e.begin)/elem)
	buf := make([]byte, min(readChunk, e.end-e.begin))
	for off, i := e.begin, 0; off < e.end; {
		chunk := buf[:min(int64(len(buf)), e.end-off)]
		if _, err := sf.r.ReadAt(chunk, sf.dataStart+off); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, sf.errorf(name, "data at byte %d: %w", sf.dataStart+off, err)
		}
		switch e.dtype {
		case "F32":
			for j := 0; j < len(chunk); j += 4 {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[j:]))
				i++
			}
		case "BF16":
			for j := 0; j < len(chunk); j += 2 {
				out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(chunk[j:]))
				i++
			}
		case "F16":
			for j := 0; j < len(chunk); j += 2 {
				out[i] = F16ToFloat32(binary.LittleEndian.Uint16(chunk[j:]))
				i++
			}
		}
		off += int64(len(chunk))
	}
	return out, nil
}

// SHA256 returns the hex SHA-256 of the whole file, streaming it once; the
// result is cached.
func (sf *File) SHA256() (string, error) {
	sf.shaOnce.Do(func() {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(sf.r, 0, sf.dataStart+sf.dataSize)); err != nil {
			sf.shaErr = fmt.Errorf("read %s: sha256: %w", sf.path, err)
			return
		}
		sf.sha = hex.EncodeToString(h.Sum(nil))
	})
	return sf.sha, sf.shaErr
}

// Close closes the file opened by Open; for OpenReader it does nothing.
func (sf *File) Close() error {
	if sf.closer == nil {
		return nil
	}
	return sf.closer.Close()
}
