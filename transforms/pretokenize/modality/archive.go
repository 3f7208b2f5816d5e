package modality

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// extractArchive fills src.Members: one per ZIP or tar entry, or the one
// decompressed stream of a gzip, bzip2, xz or zstd file (so a .tar.gz is a
// gzip whose member is a tar). Each member is extracted recursively at
// depth+1. An archive has no view of its own.
//
// Limits: nesting deeper than MaxDepth, more than MaxMembers entries in
// all, more than MaxExpandedBytes decompressed in all, or a stream that
// expands more than MaxRatio times its compressed size. A member over a
// limit, with an unsafe path (absolute, "..") or that is a link, device,
// FIFO or sparse file is rejected on its own (Member.Reject) and the rest
// of the archive kept; a corrupt archive is an error once nothing can be
// read from it.
func (st *state) extractArchive(src *Source, kind, name string, data []byte, depth int) error {
	if depth >= st.o.Limits.MaxDepth {
		return fmt.Errorf("archive nested deeper than %d levels (Limits.MaxDepth)", st.o.Limits.MaxDepth)
	}
	switch kind {
	case "zip":
		return st.zipMembers(src, data, depth)
	case "tar":
		return st.tarMembers(src, data, depth)
	}
	r, err := decompressor(kind, data, st.o.Limits.MaxExpandedBytes)
	if err != nil {
		return err
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	content, err := st.expand(r, int64(len(data)))
	if err != nil {
		return err
	}
	mname := streamName(name, kind)
	if gz, ok := r.(*gzip.Reader); ok && gz.Name != "" && pathProblem(gz.Name) == "" {
		mname = path.Base(gz.Name)
	}
	if !st.overMembers(src, mname) {
		st.addMember(src, mname, content, depth)
	}
	return nil
}

func decompressor(kind string, data []byte, maxMem int64) (io.Reader, error) {
	br := bytes.NewReader(data)
	switch kind {
	case "gzip":
		r, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read gzip header: %w", err)
		}
		return r, nil
	case "bzip2":
		return bzip2.NewReader(br), nil
	case "xz":
		r, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read xz header: %w", err)
		}
		return r, nil
	case "zstd":
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(maxMem)))
		if err != nil {
			return nil, fmt.Errorf("read zstd: %w", err)
		}
		return zstdReader{d}, nil
	}
	return nil, fmt.Errorf("no reader for archive format %q", kind)
}

type zstdReader struct{ *zstd.Decoder }

func (z zstdReader) Close() error { z.Decoder.Close(); return nil }

// streamName names the content of a single-stream file after the file:
// "a.txt.gz" → "a.txt", "a.tgz" → "a.tar", no name → "data".
func streamName(name, kind string) string {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "" || base == "." || base == "/" {
		return "data"
	}
	ext := strings.ToLower(path.Ext(base))
	switch {
	case ext == ".tgz" || ext == ".tbz2" || ext == ".txz" || ext == ".tzst":
		return strings.TrimSuffix(base, path.Ext(base)) + ".tar"
	case extensions[ext].Kind == kind:
		return strings.TrimSuffix(base, path.Ext(base))
	}
	return base
}

// expand reads r to the end within the limits: the bytes left of
// MaxExpandedBytes and MaxRatio times compressed.
func (st *state) expand(r io.Reader, compressed int64) ([]byte, error) {
	lim := st.o.Limits
	left := lim.MaxExpandedBytes - st.expanded
	ratioCap := int64(lim.MaxRatio * float64(max(compressed, 1)))
	limit := min(left, ratioCap)
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if int64(len(b)) > limit {
		if limit == ratioCap {
			return nil, fmt.Errorf("expands more than %g times its %d compressed bytes (Limits.MaxRatio; a decompression bomb?)", lim.MaxRatio, compressed)
		}
		return nil, fmt.Errorf("archive expands past %d bytes in all (Limits.MaxExpandedBytes)", lim.MaxExpandedBytes)
	}
	st.expanded += int64(len(b))
	return b, nil
}

// addMember extracts content as a member of src; a failure is the member's
// reject reason.
func (st *state) addMember(src *Source, p string, content []byte, depth int) {
	sub, err := st.extract(p, content, depth+1)
	if err != nil {
		src.Members = append(src.Members, Member{Path: p, Reject: err.Error()})
		return
	}
	src.Members = append(src.Members, Member{Path: p, Source: sub})
}

func (st *state) reject(src *Source, p, why string) {
	src.Members = append(src.Members, Member{Path: p, Reject: why})
}

// overMembers counts one more entry and reports whether it is one too many.
func (st *state) overMembers(src *Source, p string) bool {
	st.members++
	if st.members > st.o.Limits.MaxMembers {
		st.reject(src, p, fmt.Sprintf("more than %d archive members (Limits.MaxMembers); this and later members skipped", st.o.Limits.MaxMembers))
		return true
	}
	return false
}

// pathProblem says why an archive path is unsafe to extract, or "".
func pathProblem(p string) string {
	q := strings.ReplaceAll(p, "\\", "/")
	switch {
	case q == "":
		return "empty path"
	case strings.IndexByte(q, 0) >= 0:
		return "NUL byte in path"
	case strings.HasPrefix(q, "/") || len(q) >= 2 && q[1] == ':':
		return "absolute path"
	}
	for _, e := range strings.Split(q, "/") {
		if e == ".." {
			return "path escapes the archive (..)"
		}
	}
	return ""
}

func cleanPath(p string) string { return path.Clean(strings.ReplaceAll(p, "\\", "/")) }

func (st *state) zipMembers(src *Source, data []byte, depth int) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("read zip directory: %w", err)
	}
	for _, f := range zr.File {
		mode := f.Mode()
		if mode.IsDir() || strings.HasSuffix(f.Name, "/") {
			continue
		}
		if st.overMembers(src, f.Name) {
			return nil
		}
		if why := pathProblem(f.Name); why != "" {
			st.reject(src, f.Name, why)
			continue
		}
		p := cleanPath(f.Name)
		if why := modeProblem(mode); why != "" {
			st.reject(src, p, why)
			continue
		}
		if left := st.o.Limits.MaxExpandedBytes - st.expanded; f.UncompressedSize64 > uint64(left) {
			st.reject(src, p, fmt.Sprintf("declares %d bytes, more than the %d left of Limits.MaxExpandedBytes", f.UncompressedSize64, left))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			st.reject(src, p, fmt.Sprintf("open zip member: %v", err))
			continue
		}
		content, err := st.expand(rc, int64(f.CompressedSize64))
		rc.Close()
		if err != nil {
			st.reject(src, p, err.Error())
			continue
		}
		st.addMember(src, p, content, depth)
	}
	return nil
}

func modeProblem(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "device file"
	case m&(fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
		return "special file"
	}
	return ""
}

func (st *state) tarMembers(src *Source, data []byte, depth int) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if len(src.Members) == 0 {
				return fmt.Errorf("read tar: %w", err)
			}
			st.reject(src, "", fmt.Sprintf("tar ends early after %d members: %v", len(src.Members), err))
			return nil
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		}
		if st.overMembers(src, hdr.Name) {
			return nil
		}
		if why := pathProblem(hdr.Name); why != "" {
			st.reject(src, hdr.Name, why)
			continue
		}
		p := cleanPath(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink:
			st.reject(src, p, "symbolic link to "+hdr.Linkname)
			continue
		case tar.TypeLink:
			st.reject(src, p, "hard link to "+hdr.Linkname)
			continue
		case tar.TypeChar, tar.TypeBlock:
			st.reject(src, p, "device file")
			continue
		case tar.TypeFifo:
			st.reject(src, p, "special file (FIFO)")
			continue
		case tar.TypeGNUSparse:
			st.reject(src, p, "sparse file")
			continue
		default:
			st.reject(src, p, fmt.Sprintf("unsupported tar entry type %q", hdr.Typeflag))
			continue
		}
		if hdr.Size < 0 || hdr.Size > int64(len(data)) {
			st.reject(src, p, fmt.Sprintf("declares %d bytes in a %d-byte tar", hdr.Size, len(data)))
			continue
		}
		content := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, content); err != nil {
			if len(src.Members) == 0 {
				return fmt.Errorf("read tar member %s: %w (truncated?)", p, err)
			}
			st.reject(src, p, fmt.Sprintf("read tar member: %v (truncated?)", err))
			return nil
		}
		st.addMember(src, p, content, depth)
	}
}
