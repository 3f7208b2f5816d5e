package alloc

// The JSON form of a Summary, the "allocation" section of
// waterfill/_STATS.json.

// SummaryFile is a Summary as written to _STATS.json.
type SummaryFile struct {
	// Weight names the allocation weight the histogram is over.
	Weight      string  `json:"weight"`
	Temperature float64 `json:"temperature_nats,omitempty"`
	Patches     int64   `json:"patches"` // valid patches (N)
	Invalid     int64   `json:"invalid"` // dropped: p ≤ 1e-6 or non-finite
	// Moments over valid patches.
	Prominence       MomentsFile `json:"prominence_mean"`
	MaxProminence    MomentsFile `json:"prominence_max"`
	Entropy          MomentsFile `json:"entropy_mean_nats"`
	Coherence        MomentsFile `json:"coherence"`
	LogWeight        MomentsFile `json:"log_weight"`
	OutlierThreshold float64     `json:"outlier_threshold"` // mean + 1·std of prominence_mean
	Histogram        HistFile    `json:"log_weight_histogram"`
}

// MomentsFile is N, mean, population std, min and max.
type MomentsFile struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// HistFile is a Hist as written to _STATS.json: bin k covers
// ln w ∈ [k·width, (k+1)·width); Data is "k:count,k:count,…" ascending.
type HistFile struct {
	Level    int32   `json:"level"`
	Width    float64 `json:"bin_width_nats"`
	MaxBins  int32   `json:"max_bins"`
	Bins     int     `json:"bins"`
	MaxCount int64   `json:"max_bin_count"`
	// RankErrorBound is MaxCount/N: no histogram rank is further than this
	// fraction of N from the exact rank.
	RankErrorBound float64 `json:"rank_error_bound"`
	Data           string  `json:"data"`
}

func momentsFile(m Moments) MomentsFile {
	return MomentsFile{N: m.N, Mean: m.Mean, Std: m.Std(), Min: m.Min, Max: m.Max}
}

// File renders the summary for _STATS.json.
func (s Summary) File() SummaryFile {
	f := SummaryFile{
		Weight:           s.Weighting.String(),
		Patches:          s.N(),
		Invalid:          s.Invalid,
		Prominence:       momentsFile(s.Prominence),
		MaxProminence:    momentsFile(s.MaxProminence),
		Entropy:          momentsFile(s.Entropy),
		Coherence:        momentsFile(s.Coherence),
		LogWeight:        momentsFile(s.LogWeight),
		OutlierThreshold: s.OutlierThreshold(),
		Histogram: HistFile{
			Level: s.Hist.Level, Width: s.Hist.Width(), MaxBins: s.Hist.MaxBins, Bins: len(s.Hist.Keys),
			MaxCount: s.Hist.MaxCount(), Data: s.Hist.Encode(),
		},
	}
	if s.Weighting.Entropy {
		f.Temperature = s.Weighting.Temperature
	}
	if n := s.N(); n > 0 {
		f.Histogram.RankErrorBound = float64(f.Histogram.MaxCount) / float64(n)
	}
	return f
}
