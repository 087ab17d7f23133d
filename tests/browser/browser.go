// Package browser drives Debian's Chromium with chromedp for the tests that
// check what a person sees in edge-control's dashboard (control/dashboard,
// tests/e2e). A test gets a headless tab whose console, uncaught exceptions
// and Content-Security-Policy violations are recorded, so that it can fail
// on any of them.
//
// Chromium is found as EDGE_CHROMIUM or chromium on PATH. Without it the
// tests skip with a message, unless CI is set (.ci/run installs it), where
// they fail.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser: EDGE_CHROMIUM, or chromium on PATH.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("EDGE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const missing = "Chromium not found (apt-get install chromium, or set EDGE_CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(missing + ": CI must run the browser tests")
	}
	t.Skip(missing + ": skipping the browser tests")
	return ""
}

// observeScript runs in every document before its own scripts: it records
// CSP violations as the page sees them and marks the document, so a test
// can tell a live update from a reload.
const observeScript = `
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber));
window.__document = Math.random().toString(36).slice(2);
`

// Browser is one headless Chromium tab with its console recorded.
type Browser struct {
	t   testing.TB
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// New starts Chromium for the test (stopped when it ends) and opens a tab.
func New(t testing.TB) *Browser {
	t.Helper()
	path := chromiumPath(t)
	// Without the background-networking flags Chromium keeps trying to
	// reach Google's services, which on a closed network slows it down.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{t: t, ctx: ctx}
	// The first Run starts the browser; it must not carry a timeout.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: observeScript}); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// stepTimeout bounds one step in the browser: generous, because a page
// with 2,000 rows renders in seconds on a machine loaded by other tests,
// and a step that fails says what it waited for.
const stepTimeout = 90 * time.Second

// Run runs actions with a deadline, failing the test on an error.
func (b *Browser) Run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// Open navigates to url.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.Run("open "+url, chromedp.Navigate(url))
}

// Login signs in to the dashboard at base as a person does: the sign-in
// page's form, with token typed in. It waits for the fleet page the form
// leads to.
func (b *Browser) Login(base, token string) {
	b.t.Helper()
	b.Open(base + "/login")
	b.Run("sign in at "+base,
		chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS(`main[data-page="fleet"]`)),
	)
}

// Eval evaluates a JavaScript expression and decodes its value into T.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Text is what a person reads in the element matching a CSS selector
// ("" when absent).
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	sel, _ := json.Marshal(selector)
	return Eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ""}).innerText`, sel))
}

// WaitText waits until the element's text contains every one of want.
func (b *Browser) WaitText(selector string, want ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		got := b.Text(selector)
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return got
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s does not show %q after %s; it shows:\n%s", selector, missing, stepTimeout, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Document is the identity given to the current document when it loaded:
// it changes with a reload, not with a live update.
func (b *Browser) Document() string { b.t.Helper(); return Eval[string](b, `window.__document`) }

// Messages returns the console messages recorded since the last call
// (of Messages or NoErrors) and forgets them.
func (b *Browser) Messages() []chromedp.ConsoleMessage {
	// Messages arrive asynchronously; let the last ones in.
	time.Sleep(300 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
	msgs := b.console
	b.console = nil
	return msgs
}

// CSPViolations are the Content-Security-Policy violations the current
// document saw, each as "directive blocked URI at file:line".
func (b *Browser) CSPViolations() []string {
	b.t.Helper()
	return Eval[[]string](b, `window.__csp || []`)
}

// NoErrors fails the test on any CSP violation of the current document,
// and on any console error or warning or uncaught exception since the last
// check, except for messages whose text or URL contains one of allowed
// (expected network errors, such as "401").
func (b *Browser) NoErrors(allowed ...string) {
	b.t.Helper()
	for _, v := range b.CSPViolations() {
		b.t.Errorf("CSP violation: %s", v)
	}
next:
	for _, m := range b.Messages() {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleWarning && !m.IsException() {
			continue
		}
		for _, a := range allowed {
			if strings.Contains(m.Text, a) || strings.Contains(m.URL, a) {
				continue next
			}
		}
		b.t.Errorf("browser console %s (%s:%d): %s", m.Type, m.URL, m.Line, m.Text)
	}
}

// Click clicks the element matching a CSS selector.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.Run("click "+selector, chromedp.Click(chromedp.CSS(selector)))
}

// screenshotDir is where screenshots go when EDGE_SCREENSHOTS is set
// (make screenshots): the repository's docs/. A plain make test writes none.
func screenshotDir() string {
	if os.Getenv("EDGE_SCREENSHOTS") == "" {
		return ""
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs")
}

// Screenshot saves the whole page as docs/name when EDGE_SCREENSHOTS is set.
func (b *Browser) Screenshot(name string) {
	b.t.Helper()
	dir := screenshotDir()
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote docs/%s (%d bytes)", name, len(png))
}
