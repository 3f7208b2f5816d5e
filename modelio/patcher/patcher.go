package patcher

import (
	"errors"
	"fmt"
	"math"

	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

// Mode selects the patching rule; see the package doc for each rule.
type Mode string

// The patching modes.
const (
	ModeEntropy Mode = "entropy" // cut where the next-token entropy is high
	ModeStatic  Mode = "static"  // fixed PatchSize
	ModeByte    Mode = "byte"    // every token its own patch
	ModeSpace   Mode = "space"   // cut after words (needs tokens)
)

// Modes lists the valid modes, in the order help texts show them.
var Modes = []Mode{ModeEntropy, ModeStatic, ModeByte, ModeSpace}

// DefaultThreshold is Meta's global entropy threshold in nats
// (PatcherArgs.threshold); it is exactly representable as a float32.
const DefaultThreshold = 1.335442066192627

// Options configures Patch. The zero value is not valid; start from
// DefaultOptions.
type Options struct {
	Mode Mode

	// Threshold, in nats, is the entropy threshold of entropy mode, or the
	// threshold on entropy differences when Monotonic is set. It is rounded
	// to float32 before comparing. Other modes ignore it.
	Threshold float64
	// Monotonic (entropy mode) compares entropies[p-1]-entropies[p-2] with
	// Threshold instead of entropies[p-1] (Meta's monotonicity).
	Monotonic bool
	// ThresholdAdd, when non-nil (entropy mode), requires both
	// entropies[p-1] > Threshold and entropies[p-1]-entropies[p-2] >
	// *ThresholdAdd (Meta's threshold_add; nil is Meta's None, and 0 is a
	// valid setting). It cannot be combined with Monotonic.
	ThresholdAdd *float64

	// PatchSize is the patch length of static mode, in tokens (≥ 1). It must
	// be 0 in other modes.
	PatchSize int
	// MaxPatchLength, in tokens, splits longer patches into pieces of this
	// length plus a shorter last one (Meta's max_patch_length). 0 means no
	// limit.
	MaxPatchLength int
}

// DefaultOptions returns Meta's default patching: entropy mode with the
// global DefaultThreshold, no monotonicity, no maximum patch length.
func DefaultOptions() Options {
	return Options{Mode: ModeEntropy, Threshold: DefaultThreshold}
}

// Validate reports whether o describes one of the package's rules. It does
// not allocate unless it returns an error.
func (o Options) Validate() error {
	switch o.Mode {
	case ModeEntropy:
		if math.IsNaN(o.Threshold) || math.IsInf(o.Threshold, 0) {
			return fmt.Errorf("patcher: threshold %v is not a finite number of nats", o.Threshold)
		}
		if o.ThresholdAdd != nil {
			if a := *o.ThresholdAdd; math.IsNaN(a) || math.IsInf(a, 0) {
				return fmt.Errorf("patcher: threshold_add %v is not a finite number of nats", a)
			}
			if o.Monotonic {
				return errors.New("patcher: monotonic and threshold_add are exclusive (Meta ignores threshold_add when monotonicity is on); set one")
			}
		}
	case ModeStatic:
		if o.PatchSize < 1 {
			return fmt.Errorf("patcher: static mode needs a patch size ≥ 1, got %d", o.PatchSize)
		}
	case ModeByte, ModeSpace:
	case "":
		return errors.New("patcher: no mode set (start from DefaultOptions)")
	default:
		return fmt.Errorf("patcher: unknown mode %q (want entropy, static, byte or space)", o.Mode)
	}
	if o.Mode != ModeEntropy && (o.Monotonic || o.ThresholdAdd != nil) {
		return fmt.Errorf("patcher: monotonic and threshold_add apply to entropy mode only, not %s", o.Mode)
	}
	if o.Mode != ModeStatic && o.PatchSize != 0 {
		return fmt.Errorf("patcher: patch size applies to static mode only, not %s", o.Mode)
	}
	if o.MaxPatchLength < 0 {
		return fmt.Errorf("patcher: max patch length %d is negative (0 means no limit)", o.MaxPatchLength)
	}
	return nil
}

// Patch cuts one document into patches and returns their lengths in tokens,
// in order: every length is ≥ 1 and they sum to the document's length n.
//
// n is len(tokens); tokens may be nil for the modes that do not read them
// (entropy, static, byte), and then n is len(entropies). Entropy mode needs
// entropies, one per token, in nats (see the package doc for the index
// convention); other modes ignore entropies but, when both slices are given,
// their lengths must still agree. Space mode needs tokens in [0, 260).
//
// Patch allocates only its result, sized exactly. Use AppendPatch to reuse a
// buffer across documents.
func Patch(tokens []int32, entropies []float32, o Options) ([]int32, error) {
	n, err := check(tokens, entropies, o)
	if err != nil {
		return nil, err
	}
	if o.Mode == ModeEntropy && !o.Monotonic && o.ThresholdAdd == nil && o.MaxPatchLength == 0 {
		return patchGlobal(entropies, float32(o.Threshold)), nil
	}
	c := sink{counting: true, max: maxLen(o)}
	walk(n, tokens, entropies, o, &c)
	s := sink{out: make([]int32, 0, c.count), max: maxLen(o)}
	walk(n, tokens, entropies, o, &s)
	return s.out, nil
}

// AppendPatch is Patch appending the lengths to dst; it returns dst
// unchanged with the error when the input is invalid.
func AppendPatch(dst, tokens []int32, entropies []float32, o Options) ([]int32, error) {
	n, err := check(tokens, entropies, o)
	if err != nil {
		return dst, err
	}
	s := sink{out: dst, max: maxLen(o)}
	walk(n, tokens, entropies, o, &s)
	return s.out, nil
}

// Starts returns the start position of each patch, in tokens: 0, then the
// running sums of lengths. len(Starts(l)) == len(l).
func Starts(lengths []int32) []int32 {
	return AppendStarts(make([]int32, 0, len(lengths)), lengths)
}

// AppendStarts is Starts appending to dst.
func AppendStarts(dst, lengths []int32) []int32 {
	var pos int32
	for _, l := range lengths {
		dst = append(dst, pos)
		pos += l
	}
	return dst
}

// check validates the options and the input shapes and returns n.
func check(tokens []int32, entropies []float32, o Options) (int, error) {
	if err := o.Validate(); err != nil {
		return 0, err
	}
	n := len(tokens)
	if tokens == nil {
		n = len(entropies)
	} else if entropies != nil && len(entropies) != n {
		return 0, fmt.Errorf("patcher: %d entropies for %d tokens; want one entropy per token", len(entropies), n)
	}
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("patcher: document of %d tokens is longer than the int32 lengths can describe", n)
	}
	switch o.Mode {
	case ModeEntropy:
		if len(entropies) != n {
			return 0, fmt.Errorf("patcher: entropy mode needs one entropy per token, got %d for %d tokens", len(entropies), n)
		}
	case ModeSpace:
		if tokens == nil && n > 0 {
			return 0, errors.New("patcher: space mode needs the tokens, got entropies only")
		}
		for i, t := range tokens {
			if t < 0 || t >= tokenizer.VocabSize {
				return 0, fmt.Errorf("patcher: token %d at position %d is outside the byte vocabulary [0, %d)", t, i, tokenizer.VocabSize)
			}
		}
	}
	return n, nil
}

// maxLen is o.MaxPatchLength as an int32; a limit beyond any int32 length is
// no limit.
func maxLen(o Options) int32 {
	if o.MaxPatchLength > math.MaxInt32 {
		return 0
	}
	return int32(o.MaxPatchLength)
}

// sink receives patch starts in increasing order and either counts the
// lengths they produce or appends them, after MaxPatchLength splitting.
type sink struct {
	counting bool
	count    int
	out      []int32
	max      int32 // 0: no limit
	prev     int   // start of the open patch
}

// start closes the open patch at position p, which starts the next one.
func (s *sink) start(p int) {
	s.emit(int32(p - s.prev))
	s.prev = p
}

// end closes the last patch at position n.
func (s *sink) end(n int) {
	if n > s.prev {
		s.emit(int32(n - s.prev))
	}
}

func (s *sink) emit(l int32) {
	if s.max > 0 && l > s.max {
		// split_large_numbers: m while more than m remains, then the rest.
		k := (l - 1) / s.max
		if s.counting {
			s.count += int(k) + 1
			return
		}
		for range k {
			s.out = append(s.out, s.max)
		}
		l -= k * s.max
	}
	if s.counting {
		s.count++
		return
	}
	s.out = append(s.out, l)
}

// walk reports every patch start p in (0, n) to s, then closes the document.
// Position 0 always starts a patch and is implied.
func walk(n int, tokens []int32, entropies []float32, o Options, s *sink) {
	if n == 0 {
		return
	}
	switch o.Mode {
	case ModeStatic:
		for p := o.PatchSize; p < n; p += o.PatchSize {
			s.start(p)
		}
	case ModeByte:
		for p := 1; p < n; p++ {
			s.start(p)
		}
	case ModeEntropy:
		walkEntropy(n, entropies, o, s)
	case ModeSpace:
		walkSpace(n, tokens, s)
	}
	s.end(n)
}

func walkEntropy(n int, e []float32, o Options, s *sink) {
	if n < 2 {
		return
	}
	s.start(1)
	if n < 3 {
		return
	}
	t := float32(o.Threshold)
	e = e[:n]
	switch {
	case o.Monotonic:
		s.start(2)
		for p := 3; p < n; p++ {
			if float32(e[p-1]-e[p-2]) > t {
				s.start(p)
			}
		}
	case o.ThresholdAdd != nil:
		a := float32(*o.ThresholdAdd)
		s.start(2)
		for p := 4; p < n; p++ {
			if e[p-1] > t && float32(e[p-1]-e[p-2]) > a {
				s.start(p)
			}
		}
	default:
		for p := 2; p < n; p++ {
			if e[p-1] > t {
				s.start(p)
			}
		}
	}
}

// patchGlobal is Patch for Meta's default rule (global threshold, no
// maximum length), the pipeline's hot path. It avoids branching on the
// entropies, which are close to random for a branch predictor: one pass
// counts the starts, a second writes every candidate position and advances
// only past the starts, then the starts become lengths in place. The buffer
// has one spare slot for the last candidate write; the result hides it.
func patchGlobal(e []float32, t float32) []int32 {
	n := len(e)
	if n < 3 {
		out := make([]int32, n)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	count := 2
	for _, v := range e[1 : n-1] {
		count += b2i(v > t)
	}
	buf := make([]int32, count+1)
	buf[1] = 1
	k := 2
	for p := 2; p < n; p++ {
		buf[k] = int32(p)
		k += b2i(e[p-1] > t)
	}
	for i := range count - 1 {
		buf[i] = buf[i+1] - buf[i]
	}
	buf[count-1] = int32(n) - buf[count-1]
	return buf[:count:count]
}

// b2i is 1 for true and 0 for false; the compiler turns it into a SETcc.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// spaceLike[t] reports whether token t is not part of a word in Meta's space
// patcher: not an ASCII letter or digit byte and not a UTF-8 continuation
// byte (0x80–0xBF). Special tokens (below tokenizer.Offset) are space-like.
var spaceLike = func() (m [tokenizer.VocabSize]bool) {
	for t := range m {
		b := int32(t) - tokenizer.Offset
		word := b >= '0' && b <= '9' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' ||
			b >= 0x80 && b < 0xC0
		m[t] = !word
	}
	return m
}()

func walkSpace(n int, tok []int32, s *sink) {
	if n < 2 {
		return
	}
	s.start(1)
	tok = tok[:n]
	prevSpace := spaceLike[tok[0]]
	for p := 2; p < n; p++ {
		// Does token i = p-1 end a patch?
		t := tok[p-1]
		sp := spaceLike[t]
		if t < tokenizer.Offset || (sp && !prevSpace) {
			s.start(p)
		}
		prevSpace = sp
	}
}
