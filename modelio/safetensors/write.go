package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// Tensor is one tensor to write: float32 data, row-major in Shape, stored on
// disk as DType ("F32", "BF16" or "F16"; BF16 and F16 round to nearest even).
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []float32
}

// Write writes tensors and metadata to path as safetensors. The header lists
// "__metadata__" first, then the tensors in the given order, and the data
// buffer follows the same order, so equal inputs give identical files. The
// file is written to a temporary file in the same directory, synced and
// renamed over path, so readers never see a partial file.
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	header, err := buildHeader(path, tensors, metadata)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(header)))
	w.Write(lenBuf[:])
	w.Write(header)
	var b [4]byte
	for _, t := range tensors {
		switch t.DType {
		case "F32":
			for _, v := range t.Data {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				w.Write(b[:4])
			}
		case "BF16":
			for _, v := range t.Data {
				binary.LittleEndian.PutUint16(b[:], Float32ToBF16(v))
				w.Write(b[:2])
			}
		case "F16":
			for _, v := range t.Data {
				binary.LittleEndian.PutUint16(b[:], Float32ToF16(v))
				w.Write(b[:2])
			}
		}
	}
	if err := w.Flush(); err != nil { // bufio keeps the first write error
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes 0600
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// buildHeader validates tensors and returns the JSON header, padded with
// spaces to a multiple of 8 bytes so the data buffer starts aligned.
func buildHeader(path string, tensors []Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if metadata != nil {
		m, err := json.Marshal(metadata)
		if err != nil {
			return nil, fmt.Errorf("write %s: __metadata__: %w", path, err)
		}
		buf.WriteString(`"` + metadataKey + `":`)
		buf.Write(m)
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for _, t := range tensors {
		if t.Name == "" || t.Name == metadataKey || seen[t.Name] {
			return nil, fmt.Errorf("write %s: tensor %q: name empty, reserved or repeated", path, t.Name)
		}
		seen[t.Name] = true
		var elem int64
		switch t.DType {
		case "F32":
			elem = 4
		case "BF16", "F16":
			elem = 2
		default:
			return nil, fmt.Errorf("write %s: tensor %q: cannot write dtype %q (want F32, BF16 or F16)", path, t.Name, t.DType)
		}
		numel := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("write %s: tensor %q: negative dimension in shape %v", path, t.Name, t.Shape)
			}
			numel *= d
		}
		if numel != len(t.Data) {
			return nil, fmt.Errorf("write %s: tensor %q: shape %v holds %d values, data has %d", path, t.Name, t.Shape, numel, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a scalar: "shape": [] not null
		}
		end := off + int64(numel)*elem
		e, err := json.Marshal(struct {
			DType       string  `json:"dtype"`
			Shape       []int   `json:"shape"`
			DataOffsets []int64 `json:"data_offsets"`
		}{t.DType, shape, []int64{off, end}})
		if err != nil {
			return nil, fmt.Errorf("write %s: tensor %q: %w", path, t.Name, err)
		}
		name, _ := json.Marshal(t.Name)
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(e)
		off = end
	}
	buf.WriteByte('}')
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	return slices.Clip(buf.Bytes()), nil
}
