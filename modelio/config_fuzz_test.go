package modelio

import "testing"

// FuzzParseConfig: any config.json is an error or a config that validates
// and whose tensor list can be built, never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"args":{"dim":32,"n_layers":2,"n_heads":2,"multiple_of":16,"sliding_window":64,"max_seqlen":4096,"vocab_size":260}}`))
	f.Add([]byte(`{"dim":128,"n_layers":4,"n_heads":4,"n_kv_heads":2,"patching":{"threshold":2.5}}`))
	f.Add([]byte(`{"args":null,"dim":-1}`))
	f.Add([]byte(`{"dim":1e308,"n_heads":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, required := range []bool{false, true} {
			c, err := parseConfig("config.json", b, "args", required)
			if err != nil {
				continue
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("parsed config does not validate: %v (%+v)", err, c)
			}
			w := &Weights{Config: c, Layers: make([]LayerWeights, c.NLayers)}
			for _, r := range w.Tensors() {
				for _, d := range r.Shape {
					if d < 1 {
						t.Fatalf("tensor %s has shape %v", r.Name, r.Shape)
					}
				}
			}
		}
	})
}
