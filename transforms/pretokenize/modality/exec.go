package modality

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// span is a labelled byte range of a file, before gaps are filled.
type span struct {
	label     string
	off, size int64
	meta      map[string]any
}

// extractExecutable makes the "raw" view of an ELF, PE, Mach-O (thin or
// fat: every architecture) or ar file: one "section" segment per section
// with file bytes (meta name, type, flags, addr, size, and arch for
// Mach-O), ar member headers and data, and "gap" segments for the bytes
// between them (headers, tables, padding), so that the segments cover the
// file exactly. Sections without file bytes (.bss, zerofill) are listed in
// the view's Meta["nobits"].
func extractExecutable(src *Source, kind string, data []byte, o Options) error {
	var (
		spans  []span
		nobits []string
		err    error
	)
	switch kind {
	case "elf":
		spans, nobits, err = elfSpans(data)
	case "pe":
		spans, nobits, err = peSpans(data)
	case "macho":
		spans, nobits, err = machoSpans(data, 0, "")
	case "macho-fat":
		spans, nobits, err = fatSpans(data)
	case "ar":
		spans, err = arSpans(data)
	default:
		err = fmt.Errorf("no reader for executable format %q", kind)
	}
	if err != nil {
		return err
	}
	segs, err := coverSpans(data, spans, o.ChunkSize)
	if err != nil {
		return err
	}
	meta := map[string]any{"format": kind}
	if len(nobits) > 0 {
		meta["nobits"] = strings.Join(nobits, ",")
	}
	src.Views = []View{{Name: "raw", Modality: ModExecutable, Data: data, Segments: segs, Meta: meta}}
	return nil
}

// rawView cuts data into "chunk" segments of chunk bytes (the last one
// shorter); an empty input has one empty segment.
func rawView(data []byte, chunk int, meta map[string]any) View {
	v := View{Name: "raw", Modality: ModBytes, Data: data, Meta: meta}
	for off := 0; off < len(data); off += chunk {
		v.Segments = append(v.Segments, Segment{Label: "chunk", Start: off, End: min(off+chunk, len(data))})
	}
	if len(data) == 0 {
		v.Segments = []Segment{{Label: "chunk"}}
	}
	return v
}

// coverSpans sorts spans by offset and fills the bytes between them with
// "gap" segments (cut into chunks of at most chunk bytes). A span that
// overlaps the one before is cut to start where that one ends; one that
// runs past the end of data is an error (a truncated file).
func coverSpans(data []byte, spans []span, chunk int) ([]Segment, error) {
	n := int64(len(data))
	for _, s := range spans {
		if s.off < 0 || s.size < 0 || s.off > n || s.size > n-s.off {
			return nil, fmt.Errorf("%s %v at [%d, +%d) lies outside the file's %d bytes (truncated?)", s.label, s.meta["name"], s.off, s.size, n)
		}
	}
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	var segs []Segment
	gap := func(from, to int64) {
		for from < to {
			end := min(to, from+int64(chunk))
			segs = append(segs, Segment{Label: "gap", Start: int(from), End: int(end)})
			from = end
		}
	}
	pos := int64(0)
	for _, s := range spans {
		start, end := s.off, s.off+s.size
		if start < pos {
			start = pos
		}
		if end <= start {
			continue
		}
		gap(pos, start)
		segs = append(segs, Segment{Label: s.label, Start: int(start), End: int(end), Meta: s.meta})
		pos = end
	}
	gap(pos, n)
	if len(segs) == 0 {
		segs = []Segment{{Label: "gap"}}
	}
	return segs, nil
}

func elfSpans(data []byte) ([]span, []string, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("read ELF: %w", err)
	}
	var spans []span
	var nobits []string
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NULL {
			continue
		}
		if s.Type == elf.SHT_NOBITS {
			nobits = append(nobits, s.Name)
			continue
		}
		spans = append(spans, span{"section", int64(s.Offset), int64(s.FileSize), map[string]any{
			"name": s.Name, "type": s.Type.String(), "flags": s.Flags.String(), "addr": s.Addr, "size": s.Size,
			"arch": f.Machine.String(),
		}})
	}
	if len(spans) == 0 { // no section headers: fall back to program headers
		for i, p := range f.Progs {
			spans = append(spans, span{"segment", int64(p.Off), int64(p.Filesz), map[string]any{
				"name": fmt.Sprintf("prog%d", i), "type": p.Type.String(), "flags": p.Flags.String(),
				"addr": p.Vaddr, "size": p.Memsz, "arch": f.Machine.String(),
			}})
		}
	}
	return spans, nobits, nil
}

func peSpans(data []byte) ([]span, []string, error) {
	f, err := pe.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("read PE: %w", err)
	}
	var spans []span
	var nobits []string
	for _, s := range f.Sections {
		typ := "data"
		switch {
		case s.Characteristics&pe.IMAGE_SCN_CNT_CODE != 0:
			typ = "code"
		case s.Characteristics&pe.IMAGE_SCN_CNT_UNINITIALIZED_DATA != 0:
			typ = "bss"
		}
		if s.Size == 0 {
			nobits = append(nobits, s.Name)
			continue
		}
		spans = append(spans, span{"section", int64(s.Offset), int64(s.Size), map[string]any{
			"name": s.Name, "type": typ, "flags": fmt.Sprintf("%#x", s.Characteristics),
			"addr": uint64(s.VirtualAddress), "size": uint64(s.VirtualSize), "arch": fmt.Sprintf("%#x", f.Machine),
		}})
	}
	return spans, nobits, nil
}

func machoSpans(data []byte, base int64, arch string) ([]span, []string, error) {
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("read Mach-O: %w", err)
	}
	if arch == "" {
		arch = f.Cpu.String()
	}
	var spans []span
	var nobits []string
	for _, s := range f.Sections {
		const typeMask, zerofill, gbZerofill, tlvZerofill = 0xff, 0x1, 0xc, 0x12
		if t := s.Flags & typeMask; t == zerofill || t == gbZerofill || t == tlvZerofill || s.Offset == 0 {
			nobits = append(nobits, s.Seg+","+s.Name)
			continue
		}
		spans = append(spans, span{"section", base + int64(s.Offset), int64(s.Size), map[string]any{
			"name": s.Name, "segment": s.Seg, "type": fmt.Sprintf("%#x", s.Flags&typeMask),
			"flags": fmt.Sprintf("%#x", s.Flags), "addr": s.Addr, "size": s.Size, "arch": arch,
		}})
	}
	return spans, nobits, nil
}

// fatSpans reads every architecture of a universal binary; each slice's
// sections are offset by the slice's position in the file.
func fatSpans(data []byte) ([]span, []string, error) {
	ff, err := macho.NewFatFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("read fat Mach-O: %w", err)
	}
	var spans []span
	var nobits []string
	n := int64(len(data))
	for _, a := range ff.Arches {
		off, size := int64(a.Offset), int64(a.Size)
		if off > n || size > n-off {
			return nil, nil, fmt.Errorf("fat Mach-O: %s slice at [%d, +%d) outside the file's %d bytes", a.Cpu, off, size, n)
		}
		s, nb, err := machoSpans(data[off:off+size], off, a.Cpu.String())
		if err != nil {
			return nil, nil, fmt.Errorf("%s slice: %w", a.Cpu, err)
		}
		spans = append(spans, s...)
		nobits = append(nobits, nb...)
	}
	return spans, nobits, nil
}

// arSpans reads a Unix ar archive (System V/GNU long names and BSD "#1/"
// names): a "member-header" segment for each 60-byte header and a "member"
// segment for its data (meta name, size); the '\n' padding to even offsets
// is left to gaps.
func arSpans(data []byte) ([]span, error) {
	const magic = "!<arch>\n"
	spans := []span{{"header", 0, int64(len(magic)), map[string]any{"name": "!<arch>"}}}
	var longNames []byte
	pos := int64(len(magic))
	n := int64(len(data))
	for pos < n {
		if n-pos < 60 {
			return nil, fmt.Errorf("ar: truncated member header at %d", pos)
		}
		h := data[pos : pos+60]
		if string(h[58:60]) != "`\n" {
			return nil, fmt.Errorf("ar: bad member header at %d", pos)
		}
		size, err := strconv.ParseInt(strings.TrimSpace(string(h[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("ar: bad member size %q at %d", h[48:58], pos)
		}
		body := pos + 60
		if size > n-body {
			return nil, fmt.Errorf("ar: member at %d needs %d bytes, %d left (truncated)", pos, size, n-body)
		}
		name := strings.TrimRight(string(h[:16]), " ")
		switch {
		case name == "//":
			longNames = data[body : body+size]
		case strings.HasPrefix(name, "#1/"):
			l, err := strconv.Atoi(name[3:])
			if err != nil || l < 0 || int64(l) > size {
				return nil, fmt.Errorf("ar: bad BSD name %q at %d", name, pos)
			}
			name = strings.TrimRight(string(data[body:body+int64(l)]), "\x00")
		case len(name) > 1 && name[0] == '/' && name[1] >= '0' && name[1] <= '9':
			o, err := strconv.Atoi(name[1:])
			if err != nil || o < 0 || o >= len(longNames) {
				return nil, errors.New("ar: long name offset out of range: " + name)
			}
			rest := longNames[o:]
			if e := bytes.IndexByte(rest, '\n'); e >= 0 {
				rest = rest[:e]
			}
			name = strings.TrimSuffix(string(rest), "/")
		default:
			name = strings.TrimSuffix(name, "/")
		}
		spans = append(spans,
			span{"member-header", pos, 60, map[string]any{"name": name}},
			span{"member", body, size, map[string]any{"name": name, "size": size}})
		pos = body + size
		if pos%2 == 1 && pos < n {
			pos++
		}
	}
	return spans, nil
}
