// The cluster file is shared by every process (meta nodes, workers, the CLI): it lives in @cairn/shared.
export * from '@cairn/shared/config';
