package web

import (
	"net/http/httptest"
	"testing"
)

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		q      string
		fields []string
		want   bool
	}{
		{"", []string{"anything"}, true},
		{"", nil, true},
		{"GPU", []string{"node-gpu01", "agt_1"}, true},
		{"gpu01 agt", []string{"node-gpu01", "agt_1"}, true}, // across fields, as one text
		{"agt_2", []string{"node-gpu01", "agt_1"}, false},
		{"x", nil, false},
	} {
		if got := matches(c.q, c.fields...); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.q, c.fields, got, c.want)
		}
	}
}

func TestPageOf(t *testing.T) {
	rows := make([]int, pageSize*2+5)
	for i := range rows {
		rows[i] = i
	}
	for _, c := range []struct {
		url        string
		page       int
		first, len int
	}{
		{"/hosts", 1, 0, pageSize},
		{"/hosts?page=2", 2, pageSize, pageSize},
		{"/hosts?page=3", 3, 2 * pageSize, 5},
		{"/hosts?page=99", 3, 2 * pageSize, 5},
		{"/hosts?page=x", 1, 0, pageSize},
	} {
		p, shown := pageOf(httptest.NewRequest("GET", c.url, nil), rows)
		if p.Page != c.page || len(shown) != c.len || shown[0] != c.first || p.Total != len(rows) {
			t.Errorf("%s: page %d, %d rows from %d; want page %d, %d rows from %d", c.url, p.Page, len(shown), shown[0], c.page, c.len, c.first)
		}
	}
	if p, shown := pageOf(httptest.NewRequest("GET", "/hosts", nil), []int(nil)); p.Pages != 1 || len(shown) != 0 {
		t.Errorf("no rows: %d pages, %d shown", p.Pages, len(shown))
	}
}
