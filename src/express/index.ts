// pushserver/express: filled in by its issue; the subpath exists so the export map is fixed.
export {};
