import { ExaiError } from '../common/errors.js';
import { parseCommand } from './output.js';
import { checkWorkspaceArg } from './workspace-arg.js';

export const options = {
  workspace: { type: 'string', short: 'w' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** `stop|restart|remove --workspace DIR | --all [--json]`: exactly one of the two. */
export function parseTargets(command: string, argv: string[]) {
  const args = parseCommand(command, argv, options);
  if (!!args.workspace === !!args.all) {
    throw new ExaiError('USAGE', `exai ${command} needs exactly one of --workspace DIR or --all`);
  }
  if (args.workspace) checkWorkspaceArg(args.workspace, command);
  return { workspace: args.workspace, all: args.all ?? false, json: args.json ?? false };
}
