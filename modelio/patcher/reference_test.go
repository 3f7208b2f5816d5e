package patcher

// refPatch is a second, deliberately literal implementation of the rules in
// the package doc, written step by step the way Meta's patcher.py computes
// them on tensors (masks over shifted entropies, start ids, lengths from
// start ids, trailing zeros trimmed, split_large_numbers), with none of
// Patch's single-pass shortcuts. Tests compare Patch against it.
func refPatch(n int, tokens []int32, e []float32, o Options) []int32 {
	if n == 0 {
		return []int32{}
	}
	var starts []int
	switch o.Mode {
	case ModeStatic:
		var lengths []int32
		for i := 0; i < (n+o.PatchSize-1)/o.PatchSize; i++ {
			lengths = append(lengths, int32(o.PatchSize))
		}
		if n%o.PatchSize != 0 {
			lengths[len(lengths)-1] = int32(n % o.PatchSize)
		}
		return refSplit(lengths, o.MaxPatchLength)
	case ModeByte:
		for i := 0; i < n; i++ {
			starts = append(starts, i)
		}
	case ModeEntropy:
		t := float32(o.Threshold)
		shifted := e[1:] // Meta drops entropies[0]; mask index j is position j+2
		mask := make([]bool, len(shifted))
		switch {
		case o.Monotonic:
			if len(mask) > 0 {
				mask[0] = true
			}
			for j := 1; j < len(mask); j++ {
				mask[j] = shifted[j]-shifted[j-1] > t
			}
		case o.ThresholdAdd != nil:
			a := float32(*o.ThresholdAdd)
			initial := make([]bool, len(mask))
			if len(mask) > 0 {
				initial[0], mask[0] = true, true
			}
			for j := 1; j < len(mask); j++ {
				mask[j] = shifted[j]-shifted[j-1] > a && shifted[j] > t && !initial[j-1]
			}
		default:
			for j := range mask {
				mask[j] = shifted[j] > t
			}
		}
		if len(mask) > 0 {
			mask = mask[:len(mask)-1] // include_next_token=False
		}
		starts = []int{0, 1}
		for j, m := range mask {
			if m {
				starts = append(starts, j+2)
			}
		}
	case ModeSpace:
		end := make([]bool, n)
		for i, tok := range tokens {
			v := tok - 4
			end[i] = v < '0' || ('9' < v && v < 'A') || ('Z' < v && v < 'a') ||
				('z' < v && v < 0x80) || 0xC0 <= v
		}
		prevEnd := append([]bool(nil), end...)
		for i := 1; i < n; i++ {
			end[i] = end[i] && !prevEnd[i-1]
		}
		for i := range end {
			end[i] = end[i] || tokens[i] < 4
		}
		startMask := append([]bool{true, true}, end[1:]...) // n+1 positions
		for p, m := range startMask {
			if m {
				starts = append(starts, p)
			}
		}
	}
	// patch_lengths_from_start_ids with seq_len n, then trim trailing zeros.
	lengths := make([]int32, len(starts))
	for i, s := range starts {
		last := n - 1
		if i+1 < len(starts) {
			last = starts[i+1] - 1
		}
		lengths[i] = int32(last - s + 1)
	}
	for len(lengths) > 0 && lengths[len(lengths)-1] == 0 {
		lengths = lengths[:len(lengths)-1]
	}
	return refSplit(lengths, o.MaxPatchLength)
}

// refSplit is split_large_numbers: m while more than m remains, then the
// rest.
func refSplit(lengths []int32, m int) []int32 {
	if m == 0 {
		return lengths
	}
	out := []int32{}
	for _, l := range lengths {
		for int(l) > m {
			out = append(out, int32(m))
			l -= int32(m)
		}
		out = append(out, l)
	}
	return out
}
