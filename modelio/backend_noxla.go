//go:build !xla

package modelio

func xlaHint() string { return "; rebuild with -tags xla for xla:PLUGIN" }
