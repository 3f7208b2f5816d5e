// Package tokenizer owns BLT's byte tokenizer: the mapping between raw bytes
// and the int32 token ids the entropy model reads.
//
// It knows nothing about models or files. Token ids 0–3 are special, byte b
// is token b+Offset, so the vocabulary has VocabSize = 256+Offset entries.
// Bytes are bytes: no UTF-8 validation or normalisation happens in either
// direction, so any byte string round-trips exactly.
package tokenizer

// Special token ids and the layout of the byte vocabulary.
const (
	BOE       int32 = 0 // beginning of entity/patch (unused by the entropy model)
	BOS       int32 = 1 // beginning of sequence; token 0 of every document
	EOS       int32 = 2 // end of sequence
	BPE       int32 = 3 // reserved for BPE delimiters
	Offset    int32 = 4 // byte b is token b+Offset
	VocabSize int32 = 256 + Offset
)

// Encode maps each byte b to token b+Offset, optionally preceded by BOS and
// followed by EOS. The result has len(b) (+1 per added marker) tokens.
func Encode(b []byte, addBOS, addEOS bool) []int32 {
	n := len(b)
	if addBOS {
		n++
	}
	if addEOS {
		n++
	}
	out := make([]int32, 0, n)
	if addBOS {
		out = append(out, BOS)
	}
	for _, c := range b {
		out = append(out, int32(c)+Offset)
	}
	if addEOS {
		out = append(out, EOS)
	}
	return out
}

// EncodeDoc returns a document as the model sees it: [BOS, b0+4, …, EOS].
// Token i+1 is byte i.
func EncodeDoc(b []byte) []int32 {
	return Encode(b, true, true)
}

// Decode maps byte tokens back to bytes. Special tokens (ids below Offset)
// and ids outside the vocabulary (negative or ≥ VocabSize) are dropped, so
// Decode(EncodeDoc(b)) == b for every b.
func Decode(tokens []int32) []byte {
	out := make([]byte, 0, len(tokens))
	for _, t := range tokens {
		if t >= Offset && t < VocabSize {
			out = append(out, byte(t-Offset))
		}
	}
	return out
}

// DecodeString is Decode returning a string. The string may hold invalid
// UTF-8 when the tokens came from arbitrary bytes.
func DecodeString(tokens []int32) string {
	return string(Decode(tokens))
}

// IsByte reports whether t is a byte token (not special, inside the vocabulary).
func IsByte(t int32) bool {
	return t >= Offset && t < VocabSize
}
