package patcher

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

func ptr(f float64) *float64 { return &f }

// flat returns n entropies all equal to v.
func flat(n int, v float32) []float32 {
	e := make([]float32, n)
	for i := range e {
		e[i] = v
	}
	return e
}

func entropyOpts(t float64) Options { return Options{Mode: ModeEntropy, Threshold: t} }

func TestPatch(t *testing.T) {
	above := math.Nextafter32(DefaultThreshold, 10)
	hello := tokenizer.EncodeDoc([]byte("Hello, world! 42 times"))
	tests := []struct {
		name      string
		tokens    []int32 // nil: n = len(entropies)
		entropies []float32
		opts      Options
		want      []int32
	}{
		// Entropy mode, global threshold.
		{"entropy/empty", []int32{}, []float32{}, DefaultOptions(), []int32{}},
		{"entropy/nil input", nil, nil, DefaultOptions(), []int32{}},
		{"entropy/one token", nil, []float32{9}, DefaultOptions(), []int32{1}},
		{"entropy/two tokens", nil, []float32{0, 0}, DefaultOptions(), []int32{1, 1}},
		// Positions 3 and 6 start (entropies[2], entropies[5] > 1); entropies[0]
		// and entropies[6] never matter.
		{"entropy/global", nil, []float32{5, 0, 2, 0, 0, 3, 9}, entropyOpts(1), []int32{1, 2, 3, 1}},
		{"entropy/equal to threshold is not above", nil, flat(6, DefaultThreshold), DefaultOptions(), []int32{1, 5}},
		{"entropy/one ulp above threshold", nil, flat(6, above), DefaultOptions(), []int32{1, 1, 1, 1, 1, 1}},
		// float32(0.99999999) == 1, so an entropy of exactly 1 is not above it
		// (a float64 comparison would say it is).
		{"entropy/threshold rounded to float32", nil, flat(4, 1), entropyOpts(0.99999999), []int32{1, 3}},
		{"entropy/tokens give the length", hello[:5], []float32{0, 0, 2, 0, 0}, entropyOpts(1), []int32{1, 2, 2}},

		// Entropy mode, max patch length.
		{"entropy/max 2 splits", nil, flat(8, 0), Options{Mode: ModeEntropy, Threshold: 1, MaxPatchLength: 2}, []int32{1, 2, 2, 2, 1}},
		{"entropy/max 3 exact multiple", nil, flat(7, 0), Options{Mode: ModeEntropy, Threshold: 1, MaxPatchLength: 3}, []int32{1, 3, 3}},
		{"entropy/max 1", nil, []float32{0, 0, 5, 0, 0}, Options{Mode: ModeEntropy, Threshold: 1, MaxPatchLength: 1}, []int32{1, 1, 1, 1, 1}},
		{"entropy/max larger than every patch", nil, []float32{0, 0, 5, 0, 0}, Options{Mode: ModeEntropy, Threshold: 1, MaxPatchLength: 50}, []int32{1, 2, 2}},

		// Monotonic: position 2 always starts; p ≥ 3 when e[p-1]-e[p-2] > 1.
		{"monotonic/differences", nil, []float32{9, 0, 0.5, 2, 2.5, 0, 1.5, 0},
			Options{Mode: ModeEntropy, Threshold: 1, Monotonic: true}, []int32{1, 1, 2, 3, 1}},
		{"monotonic/flat still starts at 2", nil, flat(6, 7), Options{Mode: ModeEntropy, Threshold: 1, Monotonic: true}, []int32{1, 1, 4}},
		{"monotonic/two tokens", nil, []float32{0, 9}, Options{Mode: ModeEntropy, Threshold: 1, Monotonic: true}, []int32{1, 1}},
		{"monotonic/three tokens", nil, []float32{0, 0, 0}, Options{Mode: ModeEntropy, Threshold: 1, Monotonic: true}, []int32{1, 1, 1}},

		// Global and monotonic: 2 always, 3 never, p ≥ 4 when e[p-1] > 1 and
		// e[p-1]-e[p-2] > 0.5.
		{"global+monotonic/rule", nil, []float32{0, 0, 5, 1.2, 3, 2.9, 4, 0, 0},
			Options{Mode: ModeEntropy, Threshold: 1, ThresholdAdd: ptr(0.5)}, []int32{1, 1, 3, 2, 2}},
		{"global+monotonic/position 3 never starts", nil, []float32{0, 0, 9, 0, 0},
			Options{Mode: ModeEntropy, Threshold: 1, ThresholdAdd: ptr(0)}, []int32{1, 1, 3}},
		// threshold_add 0 is a setting, not "off": without it positions 5 and 6
		// would start but position 2 would not.
		{"global+monotonic/zero add", nil, []float32{0, 0, 0, 0, 2, 3, 3},
			Options{Mode: ModeEntropy, Threshold: 1, ThresholdAdd: ptr(0)}, []int32{1, 1, 3, 1, 1}},
		{"global/same entropies without add", nil, []float32{0, 0, 0, 0, 2, 3, 3}, entropyOpts(1), []int32{1, 4, 1, 1}},

		// Static.
		{"static/divides", nil, flat(8, 0), Options{Mode: ModeStatic, PatchSize: 4}, []int32{4, 4}},
		{"static/remainder", nil, flat(10, 0), Options{Mode: ModeStatic, PatchSize: 4}, []int32{4, 4, 2}},
		{"static/shorter than one patch", hello[:3], nil, Options{Mode: ModeStatic, PatchSize: 4}, []int32{3}},
		{"static/empty", []int32{}, nil, Options{Mode: ModeStatic, PatchSize: 4}, []int32{}},
		{"static/max below size", nil, flat(10, 0), Options{Mode: ModeStatic, PatchSize: 4, MaxPatchLength: 3}, []int32{3, 1, 3, 1, 2}},

		// Byte.
		{"byte/three", hello[:3], nil, Options{Mode: ModeByte}, []int32{1, 1, 1}},
		{"byte/one", hello[:1], nil, Options{Mode: ModeByte}, []int32{1}},
		{"byte/empty", []int32{}, nil, Options{Mode: ModeByte}, []int32{}},

		// Space: [BOS] "Hello," " world!" " 42 " "times"+EOS.
		{"space/hello world", hello, nil, Options{Mode: ModeSpace}, []int32{1, 6, 7, 4, 6}},
		{"space/max 4", hello, nil, Options{Mode: ModeSpace, MaxPatchLength: 4}, []int32{1, 4, 2, 4, 3, 4, 4, 2}},
		// A UTF-8 lead byte (0xC3) is space-like and ends "caf"; its
		// continuation byte (0xA9) is a word byte: [BOS] "caf\xc3" "\xa9 "
		// "au " "lait"+EOS.
		{"space/utf8", tokenizer.EncodeDoc([]byte("café au lait")), nil, Options{Mode: ModeSpace}, []int32{1, 4, 2, 3, 5}},
		// Only the first of a run of spaces ends a patch: [BOS] "a " " b"+EOS.
		{"space/run of spaces", tokenizer.EncodeDoc([]byte("a  b")), nil, Options{Mode: ModeSpace}, []int32{1, 2, 3}},
		// A special token mid-document ends a patch even after a space.
		{"space/special after space", []int32{1, 'a' + 4, ' ' + 4, 2, 'b' + 4}, nil, Options{Mode: ModeSpace}, []int32{1, 2, 1, 1}},
		// Positions 0 and 1 start patches even without BOS.
		{"space/no BOS", tokenizer.Encode([]byte("xyz"), false, false), nil, Options{Mode: ModeSpace}, []int32{1, 2}},
		{"space/one token", []int32{1}, nil, Options{Mode: ModeSpace}, []int32{1}},
		{"space/two tokens", []int32{1, 2}, nil, Options{Mode: ModeSpace}, []int32{1, 1}},
		{"space/empty", []int32{}, nil, Options{Mode: ModeSpace}, []int32{}},
		{"space/entropies ignored", hello, flat(len(hello), 99), Options{Mode: ModeSpace}, []int32{1, 6, 7, 4, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Patch(tc.tokens, tc.entropies, tc.opts)
			if err != nil {
				t.Fatalf("Patch: %v", err)
			}
			if got == nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Patch = %v, want %v", got, tc.want)
			}
			n := len(tc.tokens)
			if tc.tokens == nil {
				n = len(tc.entropies)
			}
			if ref := refPatch(n, tc.tokens, tc.entropies, tc.opts); !slices.Equal(ref, tc.want) {
				t.Fatalf("reference = %v, want %v (the table or the reference is wrong)", ref, tc.want)
			}
			buf := []int32{-7}
			app, err := AppendPatch(buf, tc.tokens, tc.entropies, tc.opts)
			if err != nil || app[0] != -7 || !slices.Equal(app[1:], tc.want) {
				t.Fatalf("AppendPatch = %v, %v; want [-7 %v]", app, err, tc.want)
			}
		})
	}
}

func TestPatchErrors(t *testing.T) {
	hello := tokenizer.EncodeDoc([]byte("hi"))
	tests := []struct {
		name      string
		tokens    []int32
		entropies []float32
		opts      Options
		want      string // substring of the error
	}{
		{"zero options", nil, nil, Options{}, "no mode"},
		{"unknown mode", nil, nil, Options{Mode: "bpe"}, "unknown mode"},
		{"NaN threshold", nil, nil, entropyOpts(math.NaN()), "not a finite"},
		{"infinite threshold_add", nil, nil, Options{Mode: ModeEntropy, ThresholdAdd: ptr(math.Inf(1))}, "not a finite"},
		{"monotonic with add", nil, nil, Options{Mode: ModeEntropy, Monotonic: true, ThresholdAdd: ptr(0)}, "exclusive"},
		{"static without size", nil, nil, Options{Mode: ModeStatic}, "patch size ≥ 1"},
		{"patch size in entropy mode", nil, nil, Options{Mode: ModeEntropy, PatchSize: 4}, "static mode only"},
		{"monotonic in byte mode", nil, nil, Options{Mode: ModeByte, Monotonic: true}, "entropy mode only"},
		{"negative max", nil, nil, Options{Mode: ModeByte, MaxPatchLength: -1}, "negative"},
		{"entropy without entropies", hello, nil, DefaultOptions(), "one entropy per token"},
		{"entropy length mismatch", hello, flat(3, 0), DefaultOptions(), "3 entropies for 4 tokens"},
		{"static length mismatch", hello, flat(3, 0), Options{Mode: ModeStatic, PatchSize: 2}, "3 entropies for 4 tokens"},
		{"space without tokens", nil, flat(3, 0), Options{Mode: ModeSpace}, "needs the tokens"},
		{"space token too large", []int32{1, 260}, nil, Options{Mode: ModeSpace}, "token 260 at position 1"},
		{"space negative token", []int32{-1}, nil, Options{Mode: ModeSpace}, "token -1 at position 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Patch(tc.tokens, tc.entropies, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Patch = %v, %v; want an error containing %q", got, err, tc.want)
			}
			if got != nil {
				t.Fatalf("Patch returned %v with its error", got)
			}
		})
	}
}

func TestStarts(t *testing.T) {
	for _, tc := range []struct{ lengths, want []int32 }{
		{[]int32{}, []int32{}},
		{[]int32{1}, []int32{0}},
		{[]int32{1, 6, 7, 4, 6}, []int32{0, 1, 7, 14, 18}},
	} {
		if got := Starts(tc.lengths); got == nil || !slices.Equal(got, tc.want) {
			t.Errorf("Starts(%v) = %v, want %v", tc.lengths, got, tc.want)
		}
	}
}

func TestDefaultThresholdIsFloat32(t *testing.T) {
	if float64(float32(DefaultThreshold)) != DefaultThreshold {
		t.Fatalf("DefaultThreshold %v is not a float32 value", DefaultThreshold)
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatalf("DefaultOptions().Validate() = %v", err)
	}
}

// randomCase draws a document and valid options. Entropies mix values on
// both sides of the threshold with values exactly on it, so that ties and
// equal neighbours (zero differences) occur often.
func randomCase(r *rand.Rand) ([]int32, []float32, Options) {
	n := r.IntN(200)
	if r.IntN(10) == 0 {
		n = r.IntN(4)
	}
	tokens := make([]int32, n)
	e := make([]float32, n)
	alphabet := []byte("ab Z09 ,.!\n\xc3\xa9\x80\xbf\xc0\xff")
	for i := range tokens {
		switch r.IntN(20) {
		case 0:
			tokens[i] = int32(r.IntN(4)) // specials anywhere
		case 1:
			tokens[i] = int32(r.IntN(256)) + 4
		default:
			tokens[i] = int32(alphabet[r.IntN(len(alphabet))]) + 4
		}
		switch r.IntN(4) {
		case 0:
			e[i] = 1
		case 1:
			e[i] = float32(r.IntN(5)) / 2
		default:
			e[i] = r.Float32() * 4
		}
	}
	var o Options
	switch r.IntN(6) {
	case 0:
		o = Options{Mode: ModeStatic, PatchSize: 1 + r.IntN(10)}
	case 1:
		o = Options{Mode: ModeByte}
	case 2:
		o = Options{Mode: ModeSpace}
	case 3:
		o = Options{Mode: ModeEntropy, Threshold: float64(r.IntN(5)) / 2, Monotonic: true}
	case 4:
		o = Options{Mode: ModeEntropy, Threshold: float64(r.IntN(5)) / 2, ThresholdAdd: ptr(float64(r.IntN(3)) / 2)}
	default:
		o = Options{Mode: ModeEntropy, Threshold: float64(r.IntN(5)) / 2}
	}
	if r.IntN(2) == 0 {
		o.MaxPatchLength = 1 + r.IntN(8)
	}
	return tokens, e, o
}

// checkInvariants fails t unless lengths is a valid patching of n tokens.
func checkInvariants(t *testing.T, n int, lengths []int32, o Options) {
	t.Helper()
	sum := 0
	for i, l := range lengths {
		if l <= 0 {
			t.Fatalf("length %d at %d is not positive: %v", l, i, lengths)
		}
		if o.MaxPatchLength > 0 && int(l) > o.MaxPatchLength {
			t.Fatalf("length %d at %d exceeds max %d: %v", l, i, o.MaxPatchLength, lengths)
		}
		sum += int(l)
	}
	if sum != n {
		t.Fatalf("lengths sum to %d, want %d: %v", sum, n, lengths)
	}
	starts := Starts(lengths)
	for i, s := range starts {
		if (i == 0 && s != 0) || (i > 0 && s <= starts[i-1]) || int(s) >= max(n, 1) {
			t.Fatalf("starts %v are not strictly increasing from 0 within %d tokens", starts, n)
		}
	}
	if n >= 2 && o.Mode != ModeStatic && (len(starts) < 2 || starts[1] != 1) {
		t.Fatalf("%s mode: position 1 must start a patch, starts %v", o.Mode, starts)
	}
}

func TestPatchProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		tokens, e, o := randomCase(r)
		got, err := Patch(tokens, e, o)
		if err != nil {
			t.Fatalf("case %d (%+v): %v", i, o, err)
		}
		checkInvariants(t, len(tokens), got, o)
		if want := refPatch(len(tokens), tokens, e, o); !slices.Equal(got, want) {
			t.Fatalf("case %d (%+v):\ntokens %v\nentropies %v\nPatch     %v\nreference %v", i, o, tokens, e, got, want)
		}
		if app, _ := AppendPatch(nil, tokens, e, o); !slices.Equal(app, got) {
			t.Fatalf("case %d (%+v): AppendPatch %v, Patch %v", i, o, app, got)
		}
		if cap(got) != len(got) {
			t.Fatalf("case %d: result has cap %d for %d lengths; want an exact allocation", i, cap(got), len(got))
		}
	}
}

func TestPatchAllocations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	e := make([]float32, 4096)
	for i := range e {
		e[i] = r.Float32() * 3
	}
	o := DefaultOptions()
	o.MaxPatchLength = 8
	if a := testing.AllocsPerRun(20, func() { Patch(nil, e, o) }); a != 1 {
		t.Errorf("Patch allocates %v times per document, want 1", a)
	}
	buf := make([]int32, 0, len(e))
	if a := testing.AllocsPerRun(20, func() { buf, _ = AppendPatch(buf[:0], nil, e, o) }); a != 0 {
		t.Errorf("AppendPatch into a large enough buffer allocates %v times, want 0", a)
	}
}

func FuzzPatch(f *testing.F) {
	f.Add([]byte("\x01Hello, world! 42 times\x02"), uint8(0), 1.335442066192627, 0.0, false, false, 0, 0, int8(0))
	f.Add([]byte("abc"), uint8(0), 0.5, 0.0, true, false, 0, 2, int8(4))
	f.Add([]byte("abcdefgh"), uint8(0), 0.5, 0.25, false, true, 0, 1, int8(4))
	f.Add([]byte("x"), uint8(1), 0.0, 0.0, false, false, 3, 0, int8(4))
	f.Add([]byte("caf\xc3\xa9 au lait"), uint8(3), 0.0, 0.0, false, false, 0, 5, int8(4))
	f.Add([]byte{}, uint8(2), 0.0, 0.0, false, false, 0, 0, int8(-5))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, threshold, add float64, mono, useAdd bool, patchSize, maxLen int, shift int8) {
		tokens := make([]int32, len(data))
		e := make([]float32, len(data))
		for i, b := range data {
			tokens[i] = int32(b) + int32(shift)
			e[i] = float32(b) / 64
		}
		o := Options{
			Mode:           Modes[int(mode)%len(Modes)],
			Threshold:      threshold,
			Monotonic:      mono,
			PatchSize:      patchSize,
			MaxPatchLength: maxLen,
		}
		if useAdd {
			o.ThresholdAdd = &add
		}
		if mode >= 128 {
			o.Mode = Mode(data) // invalid modes must be rejected, not panic
		}
		got, err := Patch(tokens, e, o)
		if err != nil {
			if got != nil {
				t.Fatalf("Patch returned %v with error %v", got, err)
			}
			return
		}
		if o.Validate() != nil {
			t.Fatalf("Patch accepted options that Validate rejects: %+v", o)
		}
		checkInvariants(t, len(tokens), got, o)
		if want := refPatch(len(tokens), tokens, e, o); !slices.Equal(got, want) {
			t.Fatalf("Patch %v, reference %v", got, want)
		}
	})
}

func benchmarkPatch(b *testing.B, tokens []int32, e []float32, o Options) {
	b.Helper()
	b.SetBytes(int64(max(len(tokens), len(e))))
	b.ReportAllocs()
	var patches int
	for b.Loop() {
		got, err := Patch(tokens, e, o)
		if err != nil {
			b.Fatal(err)
		}
		patches = len(got)
	}
	b.ReportMetric(float64(max(len(tokens), len(e)))/float64(patches), "tokens/patch")
}

// benchDoc returns an 8 KiB document of English-like text and entropies
// with about one in four above DefaultThreshold (Meta's patches average
// about 4.5 bytes).
func benchDoc() ([]int32, []float32) {
	r := rand.New(rand.NewPCG(5, 6))
	words := strings.Fields("the quick brown fox jumps over a lazy dog, and 42 more; patching bytes")
	var sb strings.Builder
	for sb.Len() < 8190 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	tokens := tokenizer.EncodeDoc([]byte(sb.String()))
	e := make([]float32, len(tokens))
	for i := range e {
		e[i] = r.Float32() * 1.78
	}
	return tokens, e
}

func BenchmarkPatch(b *testing.B) {
	tokens, e := benchDoc()
	b.Run("entropy", func(b *testing.B) { benchmarkPatch(b, nil, e, DefaultOptions()) })
	b.Run("entropy-max8", func(b *testing.B) {
		o := DefaultOptions()
		o.MaxPatchLength = 8
		benchmarkPatch(b, nil, e, o)
	})
	b.Run("monotonic", func(b *testing.B) {
		benchmarkPatch(b, nil, e, Options{Mode: ModeEntropy, Threshold: 0.5, Monotonic: true})
	})
	b.Run("space", func(b *testing.B) { benchmarkPatch(b, tokens, nil, Options{Mode: ModeSpace}) })
	b.Run("static", func(b *testing.B) { benchmarkPatch(b, tokens, nil, Options{Mode: ModeStatic, PatchSize: 4}) })
}
