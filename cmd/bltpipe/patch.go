package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bltpipe/bltpipe/modelio/patcher"
)

func init() {
	register(command{
		name:    "patch",
		summary: "cut per-token entropies (or bltpipe score --json output) into BLT patches",
		run:     runPatch,
	})
}

const patchUsage = `Usage: bltpipe patch --entropies FILE.json [--tokens FILE.json] [flags]

Cuts documents into BLT patches with Meta's rules (see modelio/patcher) and
prints one line per document:
  {"patch_lengths":[…],"patch_starts":[…]}
Lengths and starts are in tokens; token 0 is BOS.

FILE.json holds one or more JSON values, one per document, each either an
array of per-token entropies in nats, or an object with an "entropies" field
and optionally a "tokens" field, such as the output of bltpipe score --json
(its other fields are ignored). --tokens gives the tokens from a separate
file with the same layout (arrays of token ids or objects with "tokens"), one
value per document, and takes precedence. Space mode needs the tokens.

Examples:
  bltpipe patch --entropies doc.json --threshold 1.1
  bltpipe patch --entropies doc.json --threshold 1.335 --threshold-add 0.5
  bltpipe patch --entropies ent.json --tokens tok.json --mode space
  bltpipe patch --entropies ent.json --mode static --patch-size 4
`

func runPatch(args []string, stdout io.Writer) error {
	fs := newFlagSet("patch", patchUsage, stdout)
	entPath := fs.String("entropies", "", "JSON `file` of per-token entropies (required)")
	tokPath := fs.String("tokens", "", "JSON `file` of tokens (space mode, when the entropies file has none)")
	pf := addPatchFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *entPath == "" {
		return usageErrorf("--entropies FILE.json is required (see bltpipe patch --help)")
	}
	o, err := pf.options(nil)
	if err != nil {
		return err
	}

	ents, closeEnts, err := openValues(*entPath)
	if err != nil {
		return err
	}
	defer closeEnts()
	var toks *json.Decoder
	if *tokPath != "" {
		d, closeToks, err := openValues(*tokPath)
		if err != nil {
			return err
		}
		defer closeToks()
		toks = d
	}

	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	lengths := make([]int32, 0, 256) // reused across documents
	for doc := 1; ; doc++ {
		tokens, entropies, err := readEntropyDoc(ents)
		if errors.Is(err, io.EOF) {
			if doc == 1 {
				return usageErrorf("%s: no documents (want a JSON array of entropies or an object with an \"entropies\" field)", *entPath)
			}
			if toks != nil {
				if _, err := readTokenDoc(toks); !errors.Is(err, io.EOF) {
					return usageErrorf("%s has more documents than the %d of %s", *tokPath, doc-1, *entPath)
				}
			}
			break
		}
		if err != nil {
			return usageErrorf("%s: document %d: %v", *entPath, doc, err)
		}
		src := *entPath
		if toks != nil {
			tokens, err = readTokenDoc(toks)
			if errors.Is(err, io.EOF) {
				return usageErrorf("%s has fewer documents than %s: none for document %d", *tokPath, *entPath, doc)
			}
			if err != nil {
				return usageErrorf("%s: document %d: %v", *tokPath, doc, err)
			}
			src = *entPath + " and " + *tokPath
		}
		if o.Mode == patcher.ModeSpace && tokens == nil {
			return usageErrorf("%s: document %d has no \"tokens\" field; space mode needs the tokens: pass --tokens FILE.json", *entPath, doc)
		}
		lengths, err = patcher.AppendPatch(lengths[:0], tokens, entropies, o)
		if err != nil {
			return usageErrorf("%s: document %d: %v", src, doc, err)
		}
		out := patchOutput{PatchLengths: lengths, PatchStarts: patcher.Starts(lengths)}
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("write patches: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write patches: %w", err)
	}
	return nil
}

// patchOutput is one line of bltpipe patch output; the field names match
// those of bltpipe score --json.
type patchOutput struct {
	PatchLengths []int32 `json:"patch_lengths"` // tokens per patch, in order
	PatchStarts  []int32 `json:"patch_starts"`  // token index of each patch's first token
}

// openValues opens a file of concatenated JSON values.
func openValues(path string) (*json.Decoder, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, usageErrorf("%v", err)
	}
	return json.NewDecoder(bufio.NewReader(f)), func() { f.Close() }, nil
}

// nextValue reads the next JSON value and returns it with its first byte
// ('[' or '{'); io.EOF after the last one.
func nextValue(d *json.Decoder) (json.RawMessage, byte, error) {
	var raw json.RawMessage
	if err := d.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("invalid JSON: %w", err)
	}
	raw = bytes.TrimSpace(raw)
	return raw, raw[0], nil
}

// readEntropyDoc reads one document from an entropies file: an array of
// entropies, or an object with "entropies" and optionally "tokens". tokens
// is nil when the object has none.
func readEntropyDoc(d *json.Decoder) (tokens []int32, entropies []float32, err error) {
	raw, first, err := nextValue(d)
	if err != nil {
		return nil, nil, err
	}
	switch first {
	case '[':
		if err := json.Unmarshal(raw, &entropies); err != nil {
			return nil, nil, fmt.Errorf("entropies: %w", err)
		}
		return nil, entropies, nil
	case '{':
		var doc struct {
			Tokens    []int32   `json:"tokens"`
			Entropies []float32 `json:"entropies"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, nil, err
		}
		if doc.Entropies == nil {
			return nil, nil, errors.New(`the object has no "entropies" array`)
		}
		return doc.Tokens, doc.Entropies, nil
	}
	return nil, nil, errors.New(`want a JSON array of entropies or an object with an "entropies" field`)
}

// readTokenDoc reads one document from a tokens file: an array of token ids
// or an object with a "tokens" field.
func readTokenDoc(d *json.Decoder) ([]int32, error) {
	raw, first, err := nextValue(d)
	if err != nil {
		return nil, err
	}
	var tokens []int32
	switch first {
	case '[':
		if err := json.Unmarshal(raw, &tokens); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		return tokens, nil
	case '{':
		var doc struct {
			Tokens []int32 `json:"tokens"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, err
		}
		if doc.Tokens == nil {
			return nil, errors.New(`the object has no "tokens" array`)
		}
		return doc.Tokens, nil
	}
	return nil, errors.New(`want a JSON array of token ids or an object with a "tokens" field`)
}
