package read

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/klauspost/compress/zstd"
)

// readJSONL reads the lines of a JSONL split. For an uncompressed file the
// split owns every line whose first byte lies in [Start, End); a compressed
// file is one split. Empty lines are skipped; lines that are not JSON
// objects or lack a string text field are rejected, and so are lines
// longer than MaxLineBytes, which are skipped without being held whole.
func readJSONL(ctx context.Context, sp record.Split, o Options, emit func(record.Document), reject rejectFn) error {
	var (
		r   *bufio.Reader
		pos int64
	)
	if sp.Compression != "" {
		raw, err := fsio.OpenRead(ctx, sp.Path)
		if err != nil {
			return err
		}
		defer raw.Close()
		dec, closeDec, err := decompress(raw, sp.Compression)
		if err != nil {
			return fmt.Errorf("%s: %w", sp.Path, err)
		}
		defer closeDec()
		r = bufio.NewReaderSize(dec, 1<<20)
	} else {
		ra, err := fsio.OpenRandom(ctx, sp.Path)
		if err != nil {
			return err
		}
		defer ra.Close()
		pos = sp.Start
		if sp.Start > 0 {
			// The line holding byte Start-1 belongs to the previous split
			// unless it ends exactly there.
			pos = sp.Start - 1
		}
		r = bufio.NewReaderSize(io.NewSectionReader(ra, pos, ra.Size()-pos), 1<<20)
		if sp.Start > 0 {
			_, skipped, _, err := readLine(r, 0)
			pos += skipped
			if err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", sp.Path, err)
			}
		}
	}
	max := o.maxLineBytes()
	for sp.Compression != "" || pos < sp.End {
		line, n, long, err := readLine(r, max)
		start := pos
		pos += n
		if err != nil && err != io.EOF {
			// A stream cut short (truncated gzip): its last line is
			// incomplete and belongs to the rest-of-split reject.
			return fmt.Errorf("%s at byte %d: %w", sp.Path, start, err)
		}
		if long {
			reject(start, "", classLineTooLong, fmt.Sprintf("line at byte %d: %d bytes, over --max-line-bytes %d", start, n, max), line, n)
		} else if len(bytes.TrimSpace(line)) > 0 {
			doc, class, why := parseJSONLine(line, o)
			if why != "" {
				reject(start, doc.ID, class, fmt.Sprintf("line at byte %d: %s", start, why), line, int64(len(line)))
			} else {
				doc.Seq = start
				if doc.ID == "" {
					doc.ID = path.Base(sp.Path) + ":" + strconv.FormatInt(start, 10)
				}
				emit(doc)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s at byte %d: %w", sp.Path, pos, err)
		}
	}
	return nil
}

// readLine reads through the next '\n' (or to EOF). It returns the line and
// its length n in bytes; a line longer than max (max > 0) is consumed
// without being kept: long is set and line holds only its head. With
// max = 0 the line is consumed and dropped. err is io.EOF at the end.
func readLine(r *bufio.Reader, max int64) (line []byte, n int64, long bool, err error) {
	for {
		chunk, e := r.ReadSlice('\n')
		n += int64(len(chunk))
		switch {
		case max == 0:
		case long:
		case n > max:
			long = true
			need := int64(schemas.RejectHeadBytes) - int64(len(line))
			if need > 0 {
				line = append(line, chunk[:min(int64(len(chunk)), need)]...)
			}
		default:
			line = append(line, chunk...)
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if e != nil && len(line) == 0 && n == 0 {
			return nil, 0, false, e
		}
		return line, n, long, e
	}
}

func decompress(r io.Reader, kind string) (io.Reader, func(), error) {
	switch kind {
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return z, func() { z.Close() }, nil
	case "zstd":
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return z, z.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown compression %q", kind)
}

// parseJSONLine turns one JSON object into a document, or gives the reject
// class and reason (the document then holds the id if one was found).
func parseJSONLine(line []byte, o Options) (record.Document, string, string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return record.Document{}, classBadJSON, "not a JSON object: " + err.Error()
	}
	if obj == nil {
		return record.Document{}, classBadJSON, "not a JSON object: null"
	}
	var d record.Document
	idFields := DefaultIDFields
	if o.IDField != "" {
		idFields = []string{o.IDField}
	}
	for _, f := range idFields {
		if raw, ok := obj[f]; ok && !isNull(raw) {
			d.ID = jsonScalar(raw)
			break
		}
	}
	textFields := DefaultTextFields
	if o.TextField != "" {
		textFields = []string{o.TextField}
	}
	found := false
	for _, f := range textFields {
		raw, ok := obj[f]
		if !ok {
			continue
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return d, classNoText, fmt.Sprintf("field %q is not a string", f)
		}
		d.Data, found = []byte(text), true
		break
	}
	if !found {
		return d, classNoText, fmt.Sprintf("no text field (looked for %v)", textFields)
	}
	d.Modality = "text"
	d.Keep = make([]string, len(o.Keep))
	d.KeepNull = make([]bool, len(o.Keep))
	for i, k := range o.Keep {
		raw, ok := obj[k]
		if !ok || isNull(raw) {
			d.KeepNull[i] = true
			continue
		}
		d.Keep[i] = jsonScalar(raw)
	}
	return d, "", ""
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// jsonScalar renders a JSON value as text: strings unquoted, anything else
// as compact JSON.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}
