-- The firmware file an UPDATE-FIRMWARE command flashes, as its key path
-- `kind/vendor/board/revision`; empty for every other command. The download URL is made at
-- delivery, so a command delivered late (or again) never carries an expired one.
ALTER TABLE machine_commands ADD COLUMN firmware TEXT NOT NULL DEFAULT '';
