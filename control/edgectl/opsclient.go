package edgectl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/edgeplane/edge/wire"
)

// postJSON sends v as JSON to path and decodes the answer into out.
func (c *client) postJSON(ctx context.Context, path string, v, out any) error {
	var body []byte
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	} else {
		body = []byte("{}")
	}
	return c.do(ctx, apiTimeout, http.MethodPost, path, "application/json", body, out)
}

func (c *client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, apiTimeout, http.MethodGet, path, "", nil, out)
}

func (c *client) plan(ctx context.Context, req wire.PlanRequest) (*wire.Plan, error) {
	var p wire.Plan
	return &p, c.postJSON(ctx, "/plan", req, &p)
}

func (c *client) createRollout(ctx context.Context, req wire.RolloutRequest) (*wire.Rollout, error) {
	var r wire.Rollout
	return &r, c.postJSON(ctx, "/rollouts", req, &r)
}

func (c *client) rollout(ctx context.Context, id string) (*wire.Rollout, error) {
	var r wire.Rollout
	return &r, c.getJSON(ctx, "/rollouts/"+url.PathEscape(id), &r)
}

func (c *client) rollouts(ctx context.Context) ([]wire.Rollout, error) {
	var rs []wire.Rollout
	return rs, c.getJSON(ctx, "/rollouts", &rs)
}

func (c *client) rolloutAction(ctx context.Context, id, action string) (*wire.Rollout, error) {
	var r wire.Rollout
	return &r, c.postJSON(ctx, "/rollouts/"+url.PathEscape(id)+"/"+action, nil, &r)
}

func (c *client) cancelDeployment(ctx context.Context, id string) (*wire.CancelResult, error) {
	var res wire.CancelResult
	return &res, c.postJSON(ctx, "/deployments/"+url.PathEscape(id)+"/cancel", nil, &res)
}

func (c *client) labels(ctx context.Context, device string) (*wire.Labels, error) {
	var l wire.Labels
	return &l, c.getJSON(ctx, "/devices/"+url.PathEscape(device)+"/labels", &l)
}

func (c *client) setLabels(ctx context.Context, device string, req wire.LabelRequest) (*wire.Labels, error) {
	var l wire.Labels
	return &l, c.postJSON(ctx, "/devices/"+url.PathEscape(device)+"/labels", req, &l)
}

func (c *client) clearQuarantine(ctx context.Context, device, module string) (*wire.QuarantineClear, error) {
	var res wire.QuarantineClear
	return &res, c.postJSON(ctx, "/devices/"+url.PathEscape(device)+"/quarantine/clear", wire.QuarantineClearRequest{Module: module}, &res)
}

func (c *client) device(ctx context.Context, id string) (*wire.Device, error) {
	var d wire.Device
	return &d, c.getJSON(ctx, "/devices/"+url.PathEscape(id), &d)
}

func (c *client) deploy(ctx context.Context, req wire.DeployRequest) (*wire.Deployment, error) {
	var d wire.Deployment
	return &d, c.postJSON(ctx, "/deployments", req, &d)
}
