package api

import (
	"html/template"
	"net/http"
	"time"

	"github.com/edgeplane/edge/wire"
)

var dashboardTmpl = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>edge-control</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:2em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.on{color:#080}.off{color:#999}.running{color:#080}.failed,.rejected,.rolled_back{color:#b00}
</style></head><body>
<h1>edge-control</h1>
<h2>Devices ({{len .Devices}})</h2>
<table><tr><th>device</th><th>online</th><th>last seen</th><th>arch / engine</th><th>generation</th><th>modules</th></tr>
{{range .Devices}}<tr><td>{{.ID}}</td>
<td>{{if .Online}}<span class="on">online</span>{{else}}<span class="off">offline</span>{{end}}</td>
<td>{{ago .LastSeen}}</td>
{{with .Status}}<td>{{.Arch}} / {{.Engine}}</td><td>{{.Generation}}</td>
<td>{{range .Modules}}{{.Name}} {{or .Version "-"}}{{if .Port}} :{{.Port}}{{end}} <span class="{{.State}}">{{.State}}</span>{{with .Attempt}} (last attempt {{.Version}} <span class="{{.State}}">{{.State}}</span>{{if .Reason}}: {{.Reason}}{{end}}){{end}}<br>{{end}}</td>
{{else}}<td></td><td></td><td></td>{{end}}</tr>
{{end}}</table>
<h2>Recent deployments</h2>
<table><tr><th>id</th><th>module</th><th>created</th><th>done</th><th>devices</th></tr>
{{range .Deployments}}<tr><td>{{.ID}}</td><td>{{.Module}} {{.Version}}</td><td>{{ago .Created}}</td><td>{{.Done}}</td>
<td>{{range .Devices}}{{.Device}}: <span class="{{.State}}">{{.State}}</span>{{if .Reason}} ({{.Reason}}){{end}}<br>{{end}}</td></tr>
{{end}}</table>
</body></html>
`))

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	devices, err := h.fleet.Devices(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	deps, err := h.store.Deployments(r.Context(), 20)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	answerDeadline(w)
	err = dashboardTmpl.Execute(w, struct {
		Devices     []wire.Device
		Deployments []wire.Deployment
	}{devices, deps})
	if err != nil {
		h.log.Warn("render dashboard", "err", err)
	}
}
