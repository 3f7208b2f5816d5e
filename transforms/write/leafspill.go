package write

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/bltpipe/bltpipe/transforms/record"
)

// leafSpill holds a split's patch leaves, compactly, in a scratch file
// until the sidecar closes; the sidecar then inserts them into SQLite.
//
// Why: SQLite inserts ~0.7 M patch rows/s on a core, and a split's
// documents arrive in one ordered run. Inserting leaves as documents
// arrived made the sidecar the slowest lane of the split being received,
// so the bundle's reading, pretokenizing and patching waited on it and
// only one split's SQLite work ran at a time (~3 MB/s of text on a
// 16-core host, whatever its cores). Spilled, a document costs its lane a
// few bytes a patch; the inserts run when the split closes, in the split's
// own goroutine, while the bundle moves on and other splits close in
// parallel (writeFn keeps up to GOMAXPROCS splits out).
//
// Encoding, per document: uvarint first id, branch, count, a flags byte
// (1: means present); per patch: uvarint parent−branch, uvarint
// byte_length, zigzag varint byte_offset − (previous offset + length)
// (0 when patches tile the document), and with means present the float32
// bits of mean_entropy and mean_prominence (NaN stays NaN, written as NULL).
// A patch's id is first+i and its patch_index i. About 3 bytes a patch with
// --model none, 11 with a model.
type leafSpill struct {
	path string
	f    *os.File
	w    *bufio.Writer
	buf  []byte
	n    int64 // leaves written
}

const spillMeans = 1

func newLeafSpill(path string) (*leafSpill, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &leafSpill{path: path, f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

// add spills the patches of one document: ids first…first+len−1 under
// branch, patch i under parents[i].
func (s *leafSpill) add(first, branch int64, parents []int64, patches []record.Patch) error {
	b := s.buf[:0]
	b = binary.AppendUvarint(b, uint64(first))
	b = binary.AppendUvarint(b, uint64(branch))
	b = binary.AppendUvarint(b, uint64(len(patches)))
	var flags byte
	for _, p := range patches {
		if !math.IsNaN(float64(p.MeanEntropy)) || !math.IsNaN(float64(p.MeanProminence)) {
			flags = spillMeans
			break
		}
	}
	b = append(b, flags)
	var next int64 // where the previous patch ended
	for i, p := range patches {
		if parents[i] < branch {
			return fmt.Errorf("patch %d: parent %d precedes its branch %d", i, parents[i], branch)
		}
		b = binary.AppendUvarint(b, uint64(parents[i]-branch))
		b = binary.AppendUvarint(b, uint64(p.ByteLength))
		b = binary.AppendVarint(b, p.ByteOffset-next)
		next = p.ByteOffset + p.ByteLength
		if flags&spillMeans != 0 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.MeanEntropy))
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(p.MeanProminence))
		}
	}
	s.buf = b
	s.n += int64(len(patches))
	_, err := s.w.Write(b)
	return err
}

// leaf is one patch_leaves row read back from the spill.
type leaf struct {
	id, branch, parent      int64
	index                   int
	byteOffset, byteLength  int64
	meanEntropy, prominence float32
}

// each reads the leaves back in the order they were added.
func (s *leafSpill) each(fn func(leaf) error) error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(s.f, 1<<20)
	var read int64
	for {
		first, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		branch, err2 := binary.ReadUvarint(r)
		count, err3 := binary.ReadUvarint(r)
		flags, err4 := r.ReadByte()
		if err := errors.Join(err, err2, err3, err4); err != nil {
			return fmt.Errorf("leaf spill %s: %w", s.path, err)
		}
		var next int64
		for i := range int(count) {
			pd, err := binary.ReadUvarint(r)
			ln, err2 := binary.ReadUvarint(r)
			od, err3 := binary.ReadVarint(r)
			l := leaf{id: int64(first) + int64(i), branch: int64(branch), parent: int64(branch) + int64(pd), index: i,
				byteLength: int64(ln), meanEntropy: float32(math.NaN()), prominence: float32(math.NaN())}
			l.byteOffset = next + od
			next = l.byteOffset + l.byteLength
			var err4 error
			if flags&spillMeans != 0 {
				var f [8]byte
				_, err4 = io.ReadFull(r, f[:])
				l.meanEntropy = math.Float32frombits(binary.LittleEndian.Uint32(f[:4]))
				l.prominence = math.Float32frombits(binary.LittleEndian.Uint32(f[4:]))
			}
			if err := errors.Join(err, err2, err3, err4); err != nil {
				return fmt.Errorf("leaf spill %s: patch %d of id %d: %w", s.path, i, first, err)
			}
			if err := fn(l); err != nil {
				return err
			}
		}
		read += int64(count)
	}
	if read != s.n {
		return fmt.Errorf("leaf spill %s: read %d leaves back, wrote %d", s.path, read, s.n)
	}
	return nil
}

func (s *leafSpill) close() error { return s.f.Close() }
