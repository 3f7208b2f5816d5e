package patcher_test

import (
	"fmt"

	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
)

func ExamplePatch() {
	// entropies[i] is the entropy (nats) of predicting token i+1; the ones
	// above the threshold (at 2 and 5) start patches at positions 3 and 6.
	entropies := []float32{2.1, 0.3, 1.9, 0.4, 0.2, 1.6, 0.1}
	lengths, err := patcher.Patch(nil, entropies, patcher.DefaultOptions())
	if err != nil {
		panic(err)
	}
	fmt.Println(lengths, patcher.Starts(lengths))

	tokens := tokenizer.EncodeDoc([]byte("Hello, world! 42 times"))
	lengths, err = patcher.Patch(tokens, nil, patcher.Options{Mode: patcher.ModeSpace})
	if err != nil {
		panic(err)
	}
	for i, start := range patcher.Starts(lengths) {
		fmt.Printf("%q ", tokenizer.Decode(tokens[start:start+lengths[i]]))
	}
	fmt.Println()
	// Output:
	// [1 2 3 1] [0 1 3 6]
	// "" "Hello," " world!" " 42 " "times"
}
