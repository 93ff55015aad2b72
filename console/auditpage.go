package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/scaworker/scaworker/ops/audit"
)

type auditData struct {
	Command, Operator string
	Records           []audit.Record
	Next              string
}

// auditList pages the audit stream newest first, through ops/audit.
func (c *Console) auditList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	q := r.URL.Query()
	d := auditData{Command: strings.TrimSpace(q.Get("command")), Operator: strings.TrimSpace(q.Get("operator"))}
	var before uint64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			c.fail(w, http.StatusBadRequest, "before: want an audit sequence", nil)
			return
		}
		before = n
	}
	page, err := c.audit.Read(ctx, audit.Query{Limit: c.cfg.PageSize, Before: before, Command: d.Command, Operator: d.Operator})
	if err != nil {
		c.fail(w, http.StatusBadGateway, "audit stream", err)
		return
	}
	d.Records = page.Records
	if page.Next != 0 {
		v := url.Values{}
		if d.Command != "" {
			v.Set("command", d.Command)
		}
		if d.Operator != "" {
			v.Set("operator", d.Operator)
		}
		v.Set("before", strconv.FormatUint(page.Next, 10))
		d.Next = "/audit?" + v.Encode()
	}
	c.render(w, http.StatusOK, "audit", "Audit", d)
}
