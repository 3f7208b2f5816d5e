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

	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/klauspost/compress/zstd"
)

// readJSONL reads the lines of a JSONL split. For an uncompressed file the
// split owns every line whose first byte lies in [Start, End); a compressed
// file is one split. Empty lines are skipped; lines that are not JSON
// objects or lack a string text field are rejected.
func readJSONL(ctx context.Context, sp record.Split, o Options, emit func(record.Document), reject func(string)) error {
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
			skipped, err := r.ReadBytes('\n')
			pos += int64(len(skipped))
			if err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w", sp.Path, err)
			}
		}
	}
	for sp.Compression != "" || pos < sp.End {
		line, err := r.ReadBytes('\n')
		start := pos
		pos += int64(len(line))
		if len(bytes.TrimSpace(line)) > 0 {
			doc, why := parseJSONLine(line, o)
			if why != "" {
				reject(fmt.Sprintf("line at byte %d: %s", start, why))
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

// parseJSONLine turns one JSON object into a document, or says why not.
func parseJSONLine(line []byte, o Options) (record.Document, string) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return record.Document{}, "not a JSON object: " + err.Error()
	}
	var d record.Document
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
			return d, fmt.Sprintf("field %q is not a string", f)
		}
		d.Data, found = []byte(text), true
		break
	}
	if !found {
		return d, fmt.Sprintf("no text field (looked for %v)", textFields)
	}
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
	return d, ""
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
