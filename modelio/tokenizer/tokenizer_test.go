package tokenizer

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unicode/utf8"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name           string
		in             []byte
		addBOS, addEOS bool
		want           []int32
	}{
		{"empty", nil, false, false, []int32{}},
		{"empty doc", nil, true, true, []int32{BOS, EOS}},
		{"bos only", []byte("a"), true, false, []int32{BOS, 'a' + 4}},
		{"eos only", []byte("a"), false, true, []int32{'a' + 4, EOS}},
		{"extremes", []byte{0, 255}, false, false, []int32{4, 259}},
		{"utf8", []byte("é"), true, true, []int32{BOS, 0xc3 + 4, 0xa9 + 4, EOS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Encode(tt.in, tt.addBOS, tt.addEOS)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q, %v, %v) = %v, want %v", tt.in, tt.addBOS, tt.addEOS, got, tt.want)
			}
		})
	}
}

func TestEncodeDoc(t *testing.T) {
	got := EncodeDoc([]byte("hi"))
	want := []int32{BOS, 'h' + 4, 'i' + 4, EOS}
	if !slices.Equal(got, want) {
		t.Errorf("EncodeDoc(%q) = %v, want %v", "hi", got, want)
	}
	if got[0] != BOS {
		t.Errorf("token 0 = %d, want BOS", got[0])
	}
}

func TestRoundTripAllBytes(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	toks := EncodeDoc(all)
	if len(toks) != 258 {
		t.Fatalf("len = %d, want 258", len(toks))
	}
	for i, tok := range toks[1 : len(toks)-1] {
		if tok != int32(i)+Offset || tok >= VocabSize {
			t.Fatalf("byte %d -> token %d", i, tok)
		}
	}
	if got := Decode(toks); !bytes.Equal(got, all) {
		t.Errorf("Decode(EncodeDoc(all bytes)) = %v", got)
	}
}

func TestInvalidUTF8(t *testing.T) {
	in := []byte{0xff, 'a', 0xc3, 0x28, 0xed, 0xa0, 0x80}
	if utf8.Valid(in) {
		t.Fatal("test input should be invalid UTF-8")
	}
	got := DecodeString(Encode(in, true, false))
	if got != string(in) {
		t.Errorf("DecodeString = %q, want %q", got, in)
	}
}

func TestDecodeDropsNonBytes(t *testing.T) {
	toks := []int32{BOS, BOE, 'x' + 4, BPE, -1, 260, 1000, 'y' + 4, EOS}
	if got := DecodeString(toks); got != "xy" {
		t.Errorf("DecodeString(%v) = %q, want %q", toks, got, "xy")
	}
	for _, tok := range []int32{-1, 0, 3, 260} {
		if IsByte(tok) {
			t.Errorf("IsByte(%d) = true", tok)
		}
	}
	for _, tok := range []int32{4, 259} {
		if !IsByte(tok) {
			t.Errorf("IsByte(%d) = false", tok)
		}
	}
}

func ExampleEncodeDoc() {
	fmt.Println(EncodeDoc([]byte("A")))
	fmt.Println(DecodeString([]int32{BOS, 'A' + Offset, EOS}))
	// Output:
	// [1 69 2]
	// A
}
