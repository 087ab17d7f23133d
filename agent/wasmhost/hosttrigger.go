package wasmhost

import (
	"context"
	"fmt"

	"github.com/edgeplane/edge/modules/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Triggers (ABI version 2): the host calls edge_on_message for a message
// and edge_on_timer for a timer's tick, on the same pool, deadline and
// imports as a request. What to do with the status (retry, dead letter,
// skip) is the caller's: the supervisor queues and times them.

// Deliver calls the guest's edge_on_message with msg and returns its
// status (abi.TriggerOK, ...). Errors are those of Serve.
func (m *Module) Deliver(ctx context.Context, msg *abi.Message) (int32, error) {
	return m.trigger(ctx, abi.ExportOnMessage, abi.AppendMessage(nil, msg))
}

// Tick calls the guest's edge_on_timer with t and returns its status.
func (m *Module) Tick(ctx context.Context, t *abi.Timer) (int32, error) {
	return m.trigger(ctx, abi.ExportOnTimer, abi.AppendTimer(nil, t))
}

func (m *Module) trigger(ctx context.Context, export string, frame []byte) (int32, error) {
	m.stats.triggers.Add(1)
	r := m.dispatch(ctx, callJob{export: export, frame: frame})
	if r.err != nil {
		m.stats.triggerErrors.Add(1)
	}
	return r.status, r.err
}

// callTrigger runs one trigger on the instance: edge_alloc, write the
// frame, call the export.
func (in *instance) callTrigger(ctx context.Context, export string, frame []byte) (int32, error) {
	fn := in.mod.ExportedFunction(export)
	if fn == nil {
		return 0, fmt.Errorf("%w: function %s", ErrMissingExport, export)
	}
	in.st.begin(ctx)
	defer in.st.end()
	defer in.flushOutput()
	ctx = withCallState(ctx, &in.st)
	ptr, err := in.place(ctx, frame)
	if err != nil {
		return 0, err
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(frame))
	if err := fn.CallWithStack(ctx, in.stack[:]); err != nil {
		return 0, fmt.Errorf("%s: %w", export, classify(ctx, err, in))
	}
	return int32(in.stack[0]), nil
}

// checkTriggers verifies that the guest exports each trigger in exports
// with its signature (i32, i32) → i32, and speaks a version that has
// them.
func checkTriggers(code wazero.CompiledModule, version int32, exports []string) error {
	if len(exports) == 0 {
		return nil
	}
	if version < 2 {
		return fmt.Errorf("%w: the manifest declares triggers (%v), which need ABI version 2; the module speaks %d", ErrABIVersion, exports, version)
	}
	i32 := api.ValueTypeI32
	fns := code.ExportedFunctions()
	for _, name := range exports {
		f, ok := fns[name]
		if !ok {
			return fmt.Errorf("%w: function %s (the manifest declares its trigger)", ErrMissingExport, name)
		}
		if !sameTypes(f.ParamTypes(), []api.ValueType{i32, i32}) || !sameTypes(f.ResultTypes(), []api.ValueType{i32}) {
			return fmt.Errorf("%w: function %s has signature %v → %v, want [i32 i32] → [i32]",
				ErrMissingExport, name, f.ParamTypes(), f.ResultTypes())
		}
	}
	return nil
}
