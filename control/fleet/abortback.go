package fleet

import (
	"fmt"
	"strings"

	"github.com/edgeplane/edge/control/store"
	"github.com/edgeplane/edge/wire"
)

// abortRollingBack is the operator's abort of a rollout already going
// back: the way out when a rollback deployment waits for a device that
// will not answer (offline, or a controller before removed devices ended
// their parts). r ends aborted at once, so a new push of the module is no
// longer refused; its rollback deployments are left as they are (the
// desired states already name the versions going back): they end by
// their deadline, and a new push supersedes them where unfinished.
func abortRollingBack(r *store.Rollout) {
	var left []string
	for _, rb := range r.Rollback {
		if rb.Deployment != "" {
			left = append(left, rb.Deployment)
		}
	}
	r.State, r.Aborted = wire.RolloutAborted, true
	r.Reason += "; aborted by the operator while rolling back"
	if len(left) > 0 {
		r.Reason += fmt.Sprintf(" (%s go on alone until their deadline; a new push of %s replaces them)",
			strings.Join(left, ", "), r.Module)
	}
}
